#!/usr/bin/env bash
# Installs what is missing, builds everything (CUDA parts too when nvcc is found) and runs the
# whole test suite. GPU tests skip without a device. Usage: scripts/test.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${STOKER_BUILD_DIR:-build/test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTOKER_TESTS=ON -DSTOKER_BENCH=ON "$@"
cmake --build "$build" --parallel "$(nproc)"
ctest --test-dir "$build" --output-on-failure --parallel "$(nproc)" --timeout 300
