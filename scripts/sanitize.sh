#!/usr/bin/env bash
# Builds the concurrency-heavy suites with a sanitizer and runs them.
#   scripts/sanitize.sh asan   # AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/sanitize.sh tsan   # ThreadSanitizer (TBB's uninstrumented internals: see tsan.supp)
# Builds without CUDA (sanitizers and the CUDA runtime do not mix well; the CUDA paths are covered
# by bench/gpu_check.sh on a machine with a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: scripts/sanitize.sh asan|tsan}
case "$kind" in
  asan) flag=-DSTOKER_ASAN=ON ;;
  tsan) flag=-DSTOKER_TSAN=ON ;;
  *) echo "unknown sanitizer '$kind' (asan|tsan)" >&2; exit 2 ;;
esac
build=build/$kind
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$flag" -DSTOKER_CUDA=OFF -DSTOKER_BENCH=OFF >/dev/null
# The folders whose code runs on several threads. TSan covers the two whose TBB hand-offs are
# annotated (detail::submit); formats/ also uses tbb::parallel_for, whose partitioner internals
# (inlined from TBB's headers) TSan reports as racing, so it runs under ASan only.
case "$kind" in
  asan) suites=(pipeline device formats) ;;
  tsan) suites=(pipeline device) ;;
esac
targets=()
for s in "${suites[@]}"; do
  for f in tests/"$s"/*_test.cc; do [ -e "$f" ] && targets+=("$(basename "${f%.cc}")"); done
done
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}"
export TSAN_OPTIONS="suppressions=$PWD/tsan.supp halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1"
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp print_suppressions=0"  # libhdf5's own leaks
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1"
failed=0
for t in "${targets[@]}"; do
  if "$build/tests/$t" --gtest_brief=1 >"$build/$t.log" 2>&1; then
    echo "$kind: $t ok"
  else
    echo "$kind: $t FAILED (log: $build/$t.log)"; tail -30 "$build/$t.log"; failed=1
  fi
done
exit $failed
