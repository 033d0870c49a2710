#!/usr/bin/env bash
# One-shot GPU check: configure and build stoker with CUDA (Release), run every test (GPU tests
# run instead of skipping) and every GPU benchmark, then print a summary. Meant for a machine with
# an NVIDIA GPU; on one without, it still builds and runs, and the summary says the GPU parts
# were skipped.
#
#   bench/gpu_check.sh                      # build dir: build-gpu, CUDA arch: 90 (H100/H200)
#   BUILD=/tmp/b ARCH="80;90" bench/gpu_check.sh
#
# To add GPU work: append benchmark binaries (with their flags) to BENCHES below; tests need
# nothing, every *_test.cc is already part of ctest.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build-gpu}"
ARCH="${ARCH:-90}"
JOBS="${JOBS:-$(nproc)}"
BENCH_MIN_TIME="${BENCH_MIN_TIME:-0.5}"  # seconds (benchmark 1.7 takes a plain number)

# name|args: one benchmark binary per entry (relative to $BUILD/bench).
BENCHES=(
  "device_feeder_bench|--benchmark_counters_tabular=true"
  "trainer_step_bench|--benchmark_filter=Cuda"
)

LOG="$BUILD/gpu_check.log"
mkdir -p "$BUILD"
: >"$LOG"
status=0
summary=()
note() { summary+=("$1"); echo "== $1" | tee -a "$LOG"; }

echo "== GPU" | tee -a "$LOG"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG"
  have_gpu=1
else
  echo "nvidia-smi not found: GPU tests and benchmarks will skip" | tee -a "$LOG"
  have_gpu=0
fi

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
start=$(date +%s)
if ! cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DSTOKER_CUDA=ON \
      -DSTOKER_TESTS=ON -DSTOKER_BENCH=ON "-DCMAKE_CUDA_ARCHITECTURES=$ARCH" >>"$LOG" 2>&1; then
  note "configure FAILED (see $LOG)"
  printf '%s\n' "${summary[@]}"
  exit 1
fi
if ! cmake --build "$BUILD" -j "$JOBS" >>"$LOG" 2>&1; then
  tail -40 "$LOG"
  note "build FAILED (see $LOG)"
  printf '%s\n' "${summary[@]}"
  exit 1
fi
note "build ok in $(( $(date +%s) - start )) s"

# Every test; GPU tests skip only without a device.
ctest_out="$BUILD/ctest.log"
# -V keeps each test's output: GTEST_SKIP counts as passed for ctest, so skips are found there.
ctest --test-dir "$BUILD" -V -j "$JOBS" --timeout 600 >"$ctest_out" 2>&1
ctest_rc=$?
cat "$ctest_out" >>"$LOG"
grep -E "tests passed|tests failed|Total Test time" "$ctest_out" | tee -a "$LOG"
skipped=$(grep -cE "\[  SKIPPED \] .* \([0-9]+ ms\)" "$ctest_out" || true)
if [ "$ctest_rc" -ne 0 ]; then
  grep -E "^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess aborted|Exception)\)" "$ctest_out" | tee -a "$LOG"
  note "tests FAILED"
  status=1
else
  note "tests ok ($skipped skipped)"
fi
if [ "$have_gpu" -eq 1 ] && [ "$skipped" -gt 0 ]; then
  grep -E "\[  SKIPPED \] .* \([0-9]+ ms\)" "$ctest_out" | sed 's/^[0-9]*: //' | tee -a "$LOG"
  note "WARNING: $skipped tests skipped although a GPU is present"
fi

# Figures the GPU tests print (overlap timeline, feeder stats, memory over 10,000 batches).
figures=$(grep -E "^[0-9]+: (feeder|copy [0-9.]+ ms|rss )" "$ctest_out" | sed 's/^[0-9]*: //')
if [ -n "$figures" ]; then
  echo "$figures" | tee -a "$LOG"
  while IFS= read -r line; do summary+=("   $line"); done <<<"$figures"
fi

for entry in "${BENCHES[@]}"; do
  name="${entry%%|*}"
  args="${entry#*|}"
  bin="$BUILD/bench/$name"
  if [ ! -x "$bin" ]; then
    note "bench $name: not built"
    status=1
    continue
  fi
  echo "== bench $name $args" | tee -a "$LOG"
  # shellcheck disable=SC2086
  if "$bin" --benchmark_min_time="$BENCH_MIN_TIME" $args 2>&1 | tee -a "$LOG"; then
    note "bench $name ok"
  else
    note "bench $name FAILED"
    status=1
  fi
done

echo
echo "==== summary ($(( $(date +%s) - start )) s; full log: $LOG)"
printf '%s\n' "${summary[@]}"
exit $status
