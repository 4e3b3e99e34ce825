#!/bin/sh
# Trial throughput with 1 and 2 workers on this host (thread rule of fashion_models.run.workers).
# Usage: bench/throughput.sh [N_TRIALS]   (run from the repository root)
set -eu
N=${1:-8}
ROOT=$(pwd)
for W in 1 2; do
  DIR=$(mktemp -d)
  sed -e "s#@DIR@#$DIR#g" -e "s#@N@#$N#g" "$ROOT/bench/throughput_study.yaml" > "$DIR/study.yaml"
  cp "$ROOT/bench/throughput_space.yaml" "$DIR/"
  START=$(date +%s.%N)
  (cd "$DIR" && "$ROOT/.venv/bin/optuna-run" study.yaml --workers "$W" > "$DIR/log" 2>&1)
  END=$(date +%s.%N)
  python3 -c "w=$W; s=$END-$START; print(f'{w} worker(s): $N trials in {s:.1f}s = {$N*60/s:.2f} trials/min')"
done
