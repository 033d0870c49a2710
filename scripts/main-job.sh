#!/usr/bin/env bash
# The main job: installs what is missing, builds stoker (CUDA parts when nvcc is found) and runs
# an end-to-end streaming demo. Run as root from a clean clone: scripts/main-job.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${STOKER_BUILD_DIR:-build/release}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTOKER_TESTS=OFF -DSTOKER_BENCH=OFF
cmake --build "$build" --parallel "$(nproc)" --target stoker
"$build/cli/stoker" demo --images 20000 --size 64 --batch 256 --memory-budget-mb 64
