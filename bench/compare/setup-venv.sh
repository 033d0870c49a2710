#!/usr/bin/env bash
# Makes the Python environment for the comparison (tensorflow-cpu, torch on the CPU, h5py, pillow)
# in VENV (first argument; default ${TMPDIR:-/tmp}/venv-compare). Needs python3 with venv (Debian:
# python3-venv), PyPI and ~7 GiB of disk (torch's CUDA wheels: see requirements.txt).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-${TMPDIR:-/tmp}/venv-compare}"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r "$here/requirements.txt"
# stoker's Python module, built from this checkout (stoker_side.py drives stoker through it).
"$venv/bin/pip" install --quiet "$here/../.."
# One process each: tensorflow and torch in one process abort ("LLVM ERROR: inconsistency in
# registered CommandLine options"); the comparison runs every side in its own process anyway.
"$venv/bin/python" -c "import tensorflow as tf, h5py, numpy, PIL; print('tensorflow', tf.__version__, 'h5py', h5py.__version__, 'numpy', numpy.__version__, 'pillow', PIL.__version__)"
"$venv/bin/python" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'CUDA available:', torch.cuda.is_available())"
echo "venv ready: $venv ($(du -sh "$venv" | cut -f1)); run: $venv/bin/python $here/run.py"
