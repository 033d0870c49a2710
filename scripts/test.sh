#!/usr/bin/env bash
# Installs what is missing, builds everything (CUDA parts too when nvcc is found) and runs the
# whole test suite. GPU tests skip without a device. Usage: scripts/test.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
build=${STOKER_BUILD_DIR:-build/test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTOKER_TESTS=ON -DSTOKER_BENCH=ON "$@"
cmake --build "$build" --parallel "$(nproc)"
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 300

# OpenBLAS picks other kernels on other CPUs (SkylakeX with AVX-512, Haswell with AVX2, Prescott
# as the SSE3 fallback), so float results differ in the last bits between machines of the same
# kind. Run the trainer's suites again under every kernel set this CPU can execute: a tolerance
# that holds on one kernel set only fails here, not on the next machine.
cores=(Prescott)
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && cores+=(Haswell)
grep -qw avx512f /proc/cpuinfo && cores+=(SkylakeX)
for core in "${cores[@]}"; do
  for src in tests/trainer/*_test.cc; do
    t=$(basename "${src%.cc}")
    OPENBLAS_CORETYPE=$core "$build/tests/$t" --gtest_brief=1 >"$build/$t.$core.log" 2>&1 \
      || { echo "OPENBLAS_CORETYPE=$core: $t FAILED"; tail -40 "$build/$t.$core.log"; exit 1; }
  done
  echo "OPENBLAS_CORETYPE=$core: trainer suites passed"
done

# The Python package: pip install . into a venv, then its pytest suite (python/tests).
STOKER_BIN="$(realpath "$build")/cli/stoker" scripts/python-test.sh
