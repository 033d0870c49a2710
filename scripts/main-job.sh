#!/usr/bin/env bash
# The main job, from a fresh clone, as root: installs what is missing, builds the `stoker` command
# (Release; CUDA parts when nvcc is found), converts Fashion-MNIST (Debian's dataset-fashion-mnist)
# to HDF5, trains the seed's model streaming from that file (--device auto: CUDA when a GPU is
# present, else the CPU) and prints the test accuracy and throughput.
#   scripts/main-job.sh                 # defaults below
#   EPOCHS=5 BATCH=32 scripts/main-job.sh
# Measured (README.md): test accuracy 0.8915 after 3 epochs at batch 64 on the CPU; the whole
# script took 392 s (build 312 s) on 2 cores shared with other builds at load average ~15, 213 s
# at load ~6.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
scripts/install-deps.sh

# nvcc is often installed outside PATH (/usr/local/cuda/bin).
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
cuda_args=(-DSTOKER_CUDA=OFF)
if command -v nvcc >/dev/null 2>&1; then
  cuda_args=(-DSTOKER_CUDA=ON)
  # With a GPU, compile its architecture only (faster build); otherwise the default list.
  if nvidia-smi -L >/dev/null 2>&1; then cuda_args+=(-DCMAKE_CUDA_ARCHITECTURES=native); fi
fi
build=${STOKER_BUILD_DIR:-build/release}
configure() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTOKER_TESTS=OFF -DSTOKER_BENCH=OFF "$@" >/dev/null
}
build_stoker() { cmake --build "$build" --parallel "$(nproc)" --target stoker; }
# A CUDA toolchain that cannot build (e.g. cuDNN missing) falls back to the CPU build, loudly.
if ! { configure "${cuda_args[@]}" && build_stoker; }; then
  if [ "${cuda_args[0]}" = "-DSTOKER_CUDA=ON" ]; then
    echo "main job: the CUDA build failed (see above); building for the CPU only" >&2
    configure -DSTOKER_CUDA=OFF
    build_stoker
  else
    exit 1
  fi
fi
t_build=$(date +%s)

data=${STOKER_DATA_DIR:-data}
STOKER="$build/cli/stoker" datasets/fashion_mnist.sh "$data" --hdf5-only

"$build/cli/stoker" train --data "$data/fashion_mnist.h5" --images /train/images --labels /train/labels \
  --val-images /test/images --val-labels /test/labels \
  --model seed --epochs "${EPOCHS:-3}" --batch "${BATCH:-64}" --device auto --seed 1 \
  --memory-budget 256M --log "$data/main-job.jsonl" --save "$data/seed.stkw"
t1=$(date +%s)
echo "main job: $((t1 - t0)) s in all (install + build $((t_build - t0)) s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
