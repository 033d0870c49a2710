#!/usr/bin/env bash
# The CPU backend's training step with the OpenBLAS kernels stoker chooses from CPU features vs
# the kernels OpenBLAS picks on its own for a CPU model it does not know (forced here with
# OPENBLAS_CORETYPE=Prescott, its SSE3 fallback). Runs the two interleaved, REPS times each, and
# prints samples/s and the ratio as min/median/max.
#   bench/blas_kernels.sh [build dir (build/test)] [benchmark filter (BM_ConvnetCpu/32/2)] [REPS (5)]
set -euo pipefail
build=${1:-build/test}
filter=${2:-BM_ConvnetCpu/32/2}
reps=${3:-5}
bench="$build/bench/trainer_step_bench"
one() {  # samples/s of one run; $1: OPENBLAS_CORETYPE value or "" for stoker's choice
  local env=(env -u OPENBLAS_CORETYPE)
  [[ -n $1 ]] && env=(env OPENBLAS_CORETYPE="$1")
  "${env[@]}" "$bench" --benchmark_filter="^$filter" --benchmark_min_time=2 --benchmark_format=json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["benchmarks"][0]["items_per_second"])'
}
chosen=() fallback=()
for ((i = 0; i < reps; i++)); do
  chosen+=("$(one "")")
  fallback+=("$(one Prescott)")
done
python3 - "${chosen[*]}" "${fallback[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
r = [x / y for x, y in zip(a, b)]
f = lambda v, fmt: " / ".join(fmt.format(x) for x in (min(v), statistics.median(v), max(v)))
print(f"chosen kernels   {f(a, '{:.0f}')} samples/s")
print(f"Prescott (SSE3)  {f(b, '{:.0f}')} samples/s")
print(f"ratio            {f(r, '{:.2f}')}x  (min / median / max of {len(r)} interleaved pairs)")
PY
