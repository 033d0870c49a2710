#!/usr/bin/env bash
# trainer_gpu_check.sh: the trainer's GPU figures on a machine with a CUDA GPU. bench/gpu_check.sh
# runs every test (cuda_backend_test included) and trainer_step_bench; this adds what it cannot:
# end-to-end Fashion-MNIST training on the CUDA backend (accuracy, epoch time, samples/s, stall)
# in each precision. Builds only what it needs, in the same build dir as gpu_check.sh.
#   bench/trainer_gpu_check.sh            (BUILD=build-gpu ARCH=90 by default)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build-gpu}"
ARCH="${ARCH:-90}"
nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader || true
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTOKER_CUDA=ON -DSTOKER_BENCH=ON \
  "-DCMAKE_CUDA_ARCHITECTURES=$ARCH" >/dev/null
ninja -C "$BUILD" cuda_backend_test train_fashion_mnist trainer_step_bench >/dev/null
"$BUILD/tests/cuda_backend_test"
"$BUILD/bench/trainer_step_bench" --benchmark_filter=Cuda --benchmark_min_time=0.5
data=/usr/share/datasets/fashion-mnist
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "Fashion-MNIST not installed ($data): skipping the training runs"
  exit 0
fi
for p in float32 mixed_float16 mixed_bfloat16; do
  echo "== seed model, cuda, $p, batch 32, 3 epochs"
  "$BUILD/bench/train_fashion_mnist" --backend cuda --precision "$p" --batch 32 --epochs 3 --threads 8
done
echo "== convnet, cuda, mixed_float16, batch 32, 3 epochs"
"$BUILD/bench/train_fashion_mnist" --backend cuda --model convnet --precision mixed_float16 --batch 32 --epochs 3 --threads 8
echo "== seed model, cuda, float32, batch auto, 2 epochs"
"$BUILD/bench/train_fashion_mnist" --backend cuda --batch auto --epochs 2 --threads 8
