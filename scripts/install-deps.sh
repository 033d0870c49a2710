#!/usr/bin/env bash
# Installs the Debian packages stoker needs, skipping what is already there. Run as root.
# The CUDA toolkit is optional and not installed here: the build uses it when nvcc is on PATH.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libtbb-dev libhdf5-dev libturbojpeg0-dev libjpeg62-turbo-dev zlib1g-dev libopenblas-dev
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
  dataset-fashion-mnist
)

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
