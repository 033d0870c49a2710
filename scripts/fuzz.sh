#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang, ASan + UBSan) in build/fuzz and runs each for
# SECONDS (default 60), one after another, seeded from inputs generated at run time, and keeps
# going after a crash. Prints the executions and findings of each target; each crash/oom/timeout
# input is kept under build/fuzz/findings/<target>/ (replay: build/fuzz/tests/fuzz/fuzz_<target>
# FILE) and replayed to tell stoker's bugs from libhdf5's own (crashing inside libhdf5 on a
# corrupt file: listed in the libhdf5 column, not failing the run).
# Exit status: 0 when no finding is stoker's, 1 when one is, 2 on a build or usage failure.
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

# Leaks are findings, except those inside libhdf5's own error paths (lsan.supp).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Where a finding happened: "libhdf5" when the first frame of its report that is not the
# sanitizer, libFuzzer, libc or the C++ runtime lies in libhdf5 (a bug of the library on a corrupt
# file, not ours to fix: reported, kept, but not failing the run), else "stoker".
classify() {
  local frame
  frame=$(grep -E '^ +#[0-9]+ 0x[0-9a-f]+ ' "$1" |
    grep -vE 'sysdeps|__sanitizer|__asan|__lsan|__ubsan|__interceptor|fuzzer::|libc\.so|libstdc\+\+|std::terminate|__cxa_throw|raise|abort|pthread_kill|\bmalloc|\bcalloc|\brealloc|operator new|LLVMFuzzer|_start|__libc' |
    head -1)
  [[ "$frame" == *libhdf5* ]] && echo libhdf5 || echo stoker
}

status=0
printf '%-16s %12s %10s %8s %8s  %s\n' target execs "exec/s" findings libhdf5 corpus
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t findings=$build/findings/$t log=$build/logs/$t.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  rm -f "$findings"/*
  # -fork=1 with -ignore_*: one crash does not end the run; every crashing input is kept.
  "$build/tests/fuzz/fuzz_$t" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/" "$corpus" "$seeds/$t" >"$log" 2>&1
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  rate=$([ -n "$execs" ] && echo $((execs / secs)) || echo "?")
  ours=() theirs=()
  for f in "$findings"/*; do
    [ -f "$f" ] || continue
    "$build/tests/fuzz/fuzz_$t" -rss_limit_mb=2048 -timeout=10 "$f" >"$f.replay.log" 2>&1
    [ "$(classify "$f.replay.log")" = libhdf5 ] && theirs+=("$f") || ours+=("$f")
  done
  printf '%-16s %12s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "$rate" "${#ours[@]}" "${#theirs[@]}" "$(ls "$corpus" | wc -l) inputs"
  for f in "${ours[@]}" "${theirs[@]}"; do
    grep -m2 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|terminate called|SUMMARY' "$f.replay.log" | sed 's/^/    /'
    echo "    input: $f (replay log: $f.replay.log)"
  done
  ((${#ours[@]} > 0)) && status=1
done
end=$(date +%s)
echo "fuzz.sh: build $((built - start)) s, total $((end - start)) s, $([ $status = 0 ] && echo 'no findings in stoker' || echo 'FINDINGS')"
exit $status
