#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang, ASan + UBSan) in build/fuzz and runs each for
# SECONDS (default 60), one after another, seeded from inputs generated at run time. Prints the
# executions and findings of each target. Exit status: 0 when no target found anything, 1 when
# one did (its crash/leak/timeout/oom input is kept under build/fuzz/findings/<target>/; replay
# it with build/fuzz/tests/fuzz/fuzz_<target> FILE), 2 on a build or usage failure.
# Env: FUZZ_JOBS (build jobs, default 2), FUZZ_TARGETS (space-separated subset).
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2; }
targets=(${FUZZ_TARGETS:-jpeg_decode jpeg_crop hdf5_reader idx_reader cache_reader weights_loader})
build=build/fuzz
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (run scripts/install-deps.sh)" >&2; exit 2; }

start=$(date +%s)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTOKER_FUZZ=ON \
  -DSTOKER_CUDA=OFF -DSTOKER_TESTS=OFF -DSTOKER_BENCH=OFF "${launcher[@]}" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; exit 2; }
nice cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target fuzz_seeds $(printf 'fuzz_%s ' "${targets[@]}") ||
  { echo "fuzz.sh: build failed" >&2; exit 2; }
built=$(date +%s)

seeds=$build/seeds
rm -rf "$seeds"
"$build/tests/fuzz/fuzz_seeds" "$seeds" || { echo "fuzz.sh: seed generation failed" >&2; exit 2; }

# Leaks are findings, except those inside libhdf5's own error paths (tests/fuzz/lsan.supp).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
printf '%-16s %12s %10s %8s  %s\n' target execs "exec/s" findings "corpus"
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t findings=$build/findings/$t log=$build/logs/$t.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  rm -f "$findings"/*
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" "$seeds/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  rate=$(grep -m1 '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
  n=$(find "$findings" -type f | wc -l)
  ((rc != 0 && n == 0)) && n=1  # died without writing an artifact: still a finding
  printf '%-16s %12s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$n" "$(ls "$corpus" | wc -l) inputs"
  if ((n > 0)); then
    status=1
    grep -m3 -E 'ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error|terminate called|SUMMARY' "$log" | sed 's/^/    /'
    find "$findings" -type f | sed 's/^/    input: /'
    echo "    log: $log"
  fi
done
end=$(date +%s)
echo "fuzz.sh: build $((built - start)) s, total $((end - start)) s, $([ $status = 0 ] && echo 'no findings' || echo 'FINDINGS')"
exit $status
