#!/usr/bin/env bash
# Converts Fashion-MNIST from Debian's dataset-fashion-mnist package (idx files under
# /usr/share/datasets/fashion-mnist, installed by scripts/install-deps.sh) into the layouts stoker
# reads (see datasets/README.md):
#   OUT/fashion_mnist.h5          /train/images uint8 [60000,28,28,1], /train/labels int32 [60000],
#                                 /test/images uint8 [10000,28,28,1],  /test/labels int32 [10000]
#   OUT/fashion_mnist_jpeg/train/<class>/*.jpg and .../test/<class>/*.jpg   (unless --hdf5-only)
# Usage: datasets/fashion_mnist.sh [OUT=data] [--hdf5-only]
# The stoker binary: $STOKER, else build/release/cli/stoker, else build/cli/stoker.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data
hdf5_only=0
for a in "$@"; do
  case "$a" in
    --hdf5-only) hdf5_only=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) out=$a ;;
  esac
done
src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
stoker=${STOKER:-}
if [ -z "$stoker" ]; then
  for s in build/release/cli/stoker build/cli/stoker; do
    if [ -x "$s" ]; then stoker=$s; break; fi
  done
fi
if [ -z "$stoker" ]; then
  echo "error: no stoker binary; build it (scripts/main-job.sh does) or set STOKER=path" >&2
  exit 1
fi
if [ ! -e "$src/train-images-idx3-ubyte.gz" ]; then
  echo "error: $src has no Fashion-MNIST idx files; install Debian's dataset-fashion-mnist (scripts/install-deps.sh)" >&2
  exit 1
fi
mkdir -p "$out"
# Chunks of 1024 rows (784 KiB of images): whole-row chunks the source reads and shuffles in blocks.
"$stoker" convert "$src" "$out/fashion_mnist.h5" --chunk-rows 1024
if [ "$hdf5_only" = 0 ]; then
  rm -rf "$out/fashion_mnist_jpeg"
  "$stoker" convert "$out/fashion_mnist.h5" "$out/fashion_mnist_jpeg/train" --images /train/images --labels /train/labels
  "$stoker" convert "$out/fashion_mnist.h5" "$out/fashion_mnist_jpeg/test" --images /test/images --labels /test/labels
fi
"$stoker" inspect "$out/fashion_mnist.h5"
