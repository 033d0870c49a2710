#!/usr/bin/env bash
# trainer_gpu_check.sh: on a machine with a CUDA GPU, build with CUDA, run the trainer's tests
# (the CUDA-vs-CPU comparisons run instead of skipping) and time GPU training on Fashion-MNIST.
# Stand-in until device/'s bench/gpu_check.sh covers the trainer; run from the repository root:
#   bench/trainer_gpu_check.sh [build-dir]
set -euo pipefail
build=${1:-build-gpu}
nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv || true
cmake -S . -B "$build" -G Ninja -DSTOKER_CUDA=ON -DSTOKER_BENCH=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" cuda_backend_test kernels_math_test gradient_check_test trainer_test train_fashion_mnist
"$build/tests/cuda_backend_test"
"$build/tests/kernels_math_test" --gtest_brief=1
"$build/tests/trainer_test" --gtest_brief=1
data=/usr/share/datasets/fashion-mnist
if [ -f "$data/train-images-idx3-ubyte.gz" ]; then
  for p in float32 mixed_float16 mixed_bfloat16; do
    echo "== seed model, cuda, $p, batch 256, 2 epochs"
    "$build/bench/train_fashion_mnist" --backend cuda --precision "$p" --batch 256 --epochs 2 --threads 8
  done
  echo "== convnet, cuda, mixed_float16, batch 128, 2 epochs"
  "$build/bench/train_fashion_mnist" --backend cuda --model convnet --precision mixed_float16 --batch 128 --epochs 2 --threads 8
else
  echo "Fashion-MNIST not installed ($data): skipping the timing runs"
fi
