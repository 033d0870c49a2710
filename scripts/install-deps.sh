#!/usr/bin/env bash
# Installs the Debian packages stoker needs, skipping what is already there. Run as root.
#   scripts/install-deps.sh         # build and run stoker (the main job)
#   scripts/install-deps.sh test    # also what the tests need (scripts/test.sh)
# The CUDA toolkit is optional and not installed here: the build uses it when nvcc is on PATH.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libtbb-dev libhdf5-dev libturbojpeg0-dev libjpeg62-turbo-dev zlib1g-dev libdeflate-dev libopenblas-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
  # The Python package (pip install .)
  python3-dev python3-venv
)
if [ "${1:-}" = test ]; then
  packages+=(
    # scripts/python-test.sh: pytest against numpy, h5py, Pillow and torch (CPU-only)
    python3-pytest python3-numpy python3-h5py python3-pil python3-torch
    # python -m stoker.report (its test draws a real run's PNG)
    python3-matplotlib
    # scripts/fuzz.sh: clang with libFuzzer and the sanitizer runtimes
    clang libclang-rt-14-dev
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing packages and not root; run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
