#!/usr/bin/env bash
# Issue 7 screen 2: amazon-beauty, seed 2020, fixed budget of 8 epochs, lr 0.004, one thread.
# Decision: a variant goes on to confirmation if its best validation NDCG@10 over epochs 0-7 is at or above the
# sLSTM-first configuration's over the same epochs (0.0562 at epoch 6, seed 2020, its converged log).
cd /work/study
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
python benchmarks/accuracy_study.py --datasets amazon-beauty --ablation_only \
  --ablation_variants "mLSTM feed-forward 2.0, xLSTM dropout 0.2, label smoothing 0.2" \
  "mLSTM feed-forward 2.0, xLSTM dropout 0.2, label smoothing 0.2, AdamW 0.01" \
  "sLSTM first, mLSTM feed-forward 2.0, xLSTM dropout 0.2, label smoothing 0.2" \
  --ablation_lr 0.004 --ablation_seeds 2020 --seeds 2020 --epochs 8 --workers 1 --threads_per_run 1 \
  --runs_dir /work/study/benchmarks/runs/screen2_amazon-beauty
