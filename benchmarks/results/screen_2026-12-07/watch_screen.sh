#!/usr/bin/env bash
# Stop screen 1 once its first variant has logged its validation after epoch index 3 (4 epochs: the budget the
# screen was cut to, for CPU time). The AdamW and sLSTM+feed-forward variants are left for a later screen.
log=/work/study/benchmarks/runs/screen_ffn_amazon-beauty/logs/amazon-beauty-xLSTM4Rec-ablation-mLSTM_feed_forward_2_0_xLSTM_dropout_0_2_label_smoothing_0_2-lr0.004-s2020.log
until grep -q "epoch 3 evaluating" "$log" 2>/dev/null; do sleep 20; done
sleep 5
pkill -f "screen1.sh"; pkill -f "runs_dir /work/study/benchmarks/runs/screen_ffn"; pkill -f "/work/study/benchmarks/accuracy_study.py --child"
echo "stopped at $(date)"
