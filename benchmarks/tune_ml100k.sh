#!/usr/bin/env bash
# The 20-trial Ray Tune search on ml-100k (at most 2 epochs a trial, ASHA), then its table, summary
# and best configuration copied to benchmarks/results/tune_ml100k/. About 80 min on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tune_results/ml-100k-20
mkdir -p tune_results
python run_recbole_xlstm.py --model=xLSTM4Rec --dataset=ml-100k --config_files=props/ml-100k.yaml \
    --tune=hyper.test --num_samples=20 --epochs=2 --tune_dir="$out" 2>&1 | tee "$out.log"
mkdir -p benchmarks/results/tune_ml100k
cp "$out"/trials.csv "$out"/trials.md "$out"/summary.md "$out"/summary.json "$out"/best_config.yaml \
    benchmarks/results/tune_ml100k/
