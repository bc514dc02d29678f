#!/usr/bin/env bash
# Everything one GPU session runs, within GPU_SESSION_BUDGET_S seconds (default 540), by default in this order: kernel agreement (Triton/CUDA forms against the parallel form, and the GPU tests), the speed probe
# (what a training step at ml-1m's shape spends its GPU time on), the speed study,
# then the accuracy study (ml-1m, ml-100k, amazon-beauty, ablation) for whatever time is left.
#   GPU_SESSION_STEPS      which of "kernels kernel_tests probe speed accuracy" to run, in the order named (default
#                          "kernels speed accuracy"; the probe only diagnoses: one change at a time at ml-1m's
#                          training shape, each step profiled; kernel_tests: the GPU tests without the benchmark)
#   GPU_SESSION_DATASETS   the accuracy study's datasets (default "ml-1m ml-100k amazon-beauty", with the ablation;
#                          the ablation runs only where ml-100k or amazon-beauty is named)
#   GPU_SESSION_STUDY_ARGS more arguments for the accuracy study, read as shell words (quote a variant with spaces):
#                          "--seeds 2020 --ablation_variants 'SASRec, label smoothing 0.1'"
#   GPU_SESSION_RUNS       a runs dir under .gpu_data/ that an earlier study wrote (runs.jsonl, environment.json):
#                          the accuracy study resumes into a copy of it (--resume), running only what it lacks;
#                          its logs/ and saved/ go along, so that with --continue_time_stopped in
#                          GPU_SESSION_STUDY_ARGS a run a deadline stopped goes on from its checkpoint
#   GPU_SESSION_ACCURACY_S at most this many seconds for the accuracy study (default: all that is left), so that
#                          steps named after it keep their time
#   GPU_SESSION_SPEED_ARGS the speed study's lengths and variants instead of the default table's, read as shell
#                          words (quote a variant with spaces): '--lengths 1000 --variants SASRec "SASRec, AMP"'
# Training that would not end before the deadline stops at its best epoch so far (--time_stop_margin_s):
# a run gives a (marked) result instead of being killed.
#
# Needs, next to the working tree (ignored folders that travel with it):
#   .whl/       the wheels of ../shared/gpu-wheels (the GPU image has no RecBole, xlstm or registry access);
#               .whl/pytest/ holds pytest and its dependencies, installed only if the image lacks pytest
#   .gpu_data/  ml-1m/ and amazon-beauty/ from ../shared/datasets (and GPU_SESSION_RUNS's runs dir)
# Run it on CPU first with GPU_SESSION_DRY=1 (a few seconds of each step, on the CPU).
# Several sessions can run at once (say an ml-1m study beside an amazon-beauty one, each with its own OUT): each
# works in its own temporary folders, and one that finds the wheels installed in /tmp/site by an earlier session
# does not install them again (so start them side by side once one has installed).
# $OUT gets session.log and results.tar.gz (everything else), re-packed after every step: the device returns
# at most 8 files a call, and a step cut short by the budget keeps what the steps before it wrote. After the
# accuracy study, checkpoints.tar holds the newest checkpoint of each run a deadline stopped (saved/<run>/), for
# the next session to continue: unpack it into the runs dir under .gpu_data/ that GPU_SESSION_RUNS names.
set -u
START=$(date +%s)
BUDGET=${GPU_SESSION_BUDGET_S:-540}
FINAL=${OUT:-/tmp/gpu_session_out}
OUT=$(mktemp -d /tmp/gpu_session_work.XXXX)
RUNS_TMP=
# what is worth keeping is in $FINAL/results.tar.gz by then (log() re-packs it after every step)
trap 'rm -rf "$OUT" $RUNS_TMP' EXIT
mkdir -p "$FINAL"
DEVICE=cuda
if [ "${GPU_SESSION_DRY:-0}" = 1 ]; then DEVICE=cpu; fi
elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( BUDGET - $(elapsed) )); }
log() {
    echo "[$(elapsed)s] $*" | tee -a "$FINAL/session.log"
    tar czf "$FINAL/results.tar.gz" -C "$OUT" . 2>/dev/null
}

SITE=/tmp/site
if [ ! -f "$SITE/.installed" ]; then
    python3 -m pip install -q --no-index --no-deps --target "$SITE" .whl/*.whl > "$OUT/pip.log" 2>&1
    python3 -c "import pytest" 2>/dev/null || python3 -m pip install -q --no-index --no-deps --target "$SITE" .whl/pytest/*.whl >> "$OUT/pip.log" 2>&1
    touch "$SITE/.installed"
fi
export PYTHONPATH=$SITE:$PWD
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
log "installed; $(python3 -c 'import torch, recbole_xlstm; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1 | tail -1)"
{ nvidia-smi; echo; which nvcc ninja; nproc; free -g; } > "$OUT/machine.txt" 2>&1

STEPS=${GPU_SESSION_STEPS:-kernels speed accuracy}
# The probe: one change at a time against the Triton step and SASRec's, at ml-1m's training shape
PROBE=("SASRec" "SASRec, cudnn.benchmark" "SASRec, AMP" "xLSTM4Rec Triton chunkwise, eager" "xLSTM4Rec parallel, eager"
       "xLSTM4Rec Triton chunkwise, eager, cudnn.benchmark" "xLSTM4Rec Triton chunkwise, eager, chunk 128"
       "xLSTM4Rec Triton chunkwise, eager, AMP" "xLSTM4Rec parallel, compiled, cuda")
SPEED_ARGS=()
if [ -n "${GPU_SESSION_SPEED_ARGS:-}" ]; then eval "SPEED_ARGS=(${GPU_SESSION_SPEED_ARGS})"; fi
STUDY_ARGS=()
if [ -n "${GPU_SESSION_STUDY_ARGS:-}" ]; then eval "STUDY_ARGS=(${GPU_SESSION_STUDY_ARGS})"; fi

kernel_tests() {
    # 150 s: on 2026-11-28 the H200 ran 10 of the file's tests in the first 90
    timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_kernel_agreement.py > "$OUT/pytest_kernel_agreement.log" 2>&1
    log "kernel tests rc=$? ($(tail -1 "$OUT/pytest_kernel_agreement.log"))"
}
kernels() {
    if [ "$DEVICE" = cpu ]; then
        timeout 120 python3 benchmarks/kernel_agreement.py --device cpu --lengths 50 --output "$OUT/kernel_agreement_cpu" > "$OUT/kernel_agreement.log" 2>&1
    else
        timeout 75 python3 benchmarks/kernel_agreement.py --device cuda --lengths 50 200 1000 --output "$OUT/kernel_agreement_cuda" > "$OUT/kernel_agreement.log" 2>&1
    fi
    log "kernel agreement rc=$?"
    kernel_tests
}
probe() {
    if [ "$DEVICE" = cpu ]; then
        timeout 200 python3 benchmarks/speed_study.py --device cpu --lengths 20 --batch 64 --repeats 1 --warmup 1 \
            --child_timeout 100 --variants "SASRec" "SASRec, AMP" "xLSTM4Rec parallel, eager" \
            --output "$OUT/speed_cpu_probe" > "$OUT/probe.log" 2>&1
    else
        timeout 200 python3 benchmarks/speed_study.py --device cuda --lengths 200 --batch 2048 --repeats 5 --warmup 2 \
            --child_timeout 60 --variants "${PROBE[@]}" --output "$OUT/speed_cuda_probe" > "$OUT/probe.log" 2>&1
    fi
    log "speed probe rc=$?"
}
speed() {
    if [ "$DEVICE" = cpu ]; then
        [ ${#SPEED_ARGS[@]} -gt 0 ] || SPEED_ARGS=(--lengths 20 --variants SASRec "xLSTM4Rec parallel, eager")
        timeout 200 python3 benchmarks/speed_study.py --device cpu --repeats 2 --warmup 1 --child_timeout 100 \
            "${SPEED_ARGS[@]}" --output "$OUT/speed_cpu" > "$OUT/speed.log" 2>&1
    else
        # The compiled Triton variant never finished compiling within 40 s (2026-11-27); the probe tries the
        # compiled parallel form instead.
        [ ${#SPEED_ARGS[@]} -gt 0 ] || SPEED_ARGS=(--variants SASRec GRU4Rec "xLSTM4Rec parallel, eager"
                                                   "xLSTM4Rec Triton chunkwise, eager")
        timeout $(( $(left) > 240 ? 240 : $(left) )) python3 benchmarks/speed_study.py --device cuda --repeats 10 \
            --warmup 2 --child_timeout 60 "${SPEED_ARGS[@]}" --output "$OUT/speed_cuda" > "$OUT/speed.log" 2>&1
    fi
    log "speed study rc=$?"
}
accuracy() {
    local study runs
    RUNS_TMP=$(mktemp -d /tmp/gpu_session_runs.XXXX)
    runs=$RUNS_TMP
    if [ -n "${GPU_SESSION_RUNS:-}" ]; then
        cp ".gpu_data/$GPU_SESSION_RUNS/runs.jsonl" ".gpu_data/$GPU_SESSION_RUNS/environment.json" "$runs/"
        # a continued run's log keeps its first leg (the report reads both), and its checkpoint is where it goes on
        for part in logs saved; do
            [ ! -d ".gpu_data/$GPU_SESSION_RUNS/$part" ] || cp -r ".gpu_data/$GPU_SESSION_RUNS/$part" "$runs/"
        done
    fi
    if [ "$DEVICE" = cpu ]; then
        study=(--device cpu --datasets ${GPU_SESSION_DATASETS:-amazon-beauty} --workers 2 --xlstm_compile False)
        [ -n "${GPU_SESSION_RUNS:-}" ] || study+=(--models xLSTM4Rec Pop --learning_rates 0.002 --seeds 2020 2021
                                                  --epochs 1 --ablation --ablation_variants "1 mLSTM block")
    else
        # torch.compile for the accuracy runs only where the speed study found it clearly faster at length 50:
        # each run pays the compile again, and a failed compile would cost the whole study (no speed study: eager).
        local compile
        compile=$(python3 - "$OUT/speed_cuda.csv" <<'PY'
import csv, sys
try:
    rows = {r["variant"]: r for r in csv.DictReader(open(sys.argv[1])) if r["length"] == "50" and r["status"] == "ok"}
    eager, compiled = rows["xLSTM4Rec Triton chunkwise, eager"], rows["xLSTM4Rec Triton chunkwise, compiled"]
    print(float(compiled["train_ms"]) < 0.6 * float(eager["train_ms"]))
except Exception:
    print(False)
PY
)
        log "xlstm_compile for the accuracy runs: $compile"
        # 4 at a time: on 2026-11-27, 15 runs time-slicing one H100 each took 21-36 s an ml-100k epoch
        study=(--device cuda --datasets ${GPU_SESSION_DATASETS:-ml-1m ml-100k amazon-beauty} --workers 4
               --xlstm_compile "$compile")
        [ -n "${GPU_SESSION_RUNS:-}" ] || study+=(--ablation)
    fi
    [ -z "${GPU_SESSION_RUNS:-}" ] || study+=(--resume)
    study+=("${STUDY_ARGS[@]}")
    local deadline=$(( $(left) - 25 ))
    if [ -n "${GPU_SESSION_ACCURACY_S:-}" ] && [ "$GPU_SESSION_ACCURACY_S" -lt "$deadline" ]; then
        deadline=$GPU_SESSION_ACCURACY_S
    fi
    log "accuracy study, deadline ${deadline}s: ${study[*]}"
    TORCHINDUCTOR_COMPILE_THREADS=1 OMP_NUM_THREADS=1 python3 benchmarks/accuracy_study.py "${study[@]}" \
        --deadline_s "$deadline" --min_left_s 45 --time_stop_margin_s 30 --data_path "$PWD/.gpu_data" --runs_dir "$runs" \
        > "$OUT/accuracy.log" 2>&1
    log "accuracy study rc=$?"
    mkdir -p "$OUT/runs"
    cp -r "$runs/runs.jsonl" "$runs/environment.json" "$runs/logs" "$OUT/runs/" 2>/dev/null
    # the newest checkpoint of each run whose last record a deadline stopped: 16 MiB a file comes back
    python3 - "$runs" "$FINAL/checkpoints.tar" > "$OUT/checkpoints.log" 2>&1 <<'PY'
import sys, tarfile
from pathlib import Path
sys.path.insert(0, "benchmarks")
from accuracy_study import deadline_stopped, newest_checkpoint
from study_report import load_runs
runs = Path(sys.argv[1])
stopped = [r["name"] for r in deadline_stopped(load_runs(runs))]
with tarfile.open(sys.argv[2], "w") as tar:
    for name in stopped:
        checkpoint = newest_checkpoint(runs, name)
        if checkpoint is not None:
            tar.add(checkpoint, arcname=f"saved/{name}/{checkpoint.name}")
print(f"{len(stopped)} deadline-stopped run(s); checkpoints: {len(tarfile.open(sys.argv[2]).getnames())}")
PY
    log "accuracy runs copied; $(tail -1 "$OUT/checkpoints.log"), $(du -h "$FINAL/checkpoints.tar" | cut -f1)"
}

for name in $STEPS; do
    case "$name" in
        kernels|kernel_tests|probe|speed|accuracy) "$name" ;;
        *) log "unknown step '$name' (GPU_SESSION_STEPS takes kernels kernel_tests probe speed accuracy)" ;;
    esac
done
log "done"
