#!/usr/bin/env bash
# Builds and installs the Python package (pip + scikit-build-core + nanobind, from this CMake tree)
# into a venv that also sees Debian's numpy, h5py, pytest, Pillow and torch (scripts/install-deps.sh),
# then runs the pytest suite in python/tests. Usage: scripts/python-test.sh [pytest args]
# The venv and the CMake build dir (build/python/<tag>) are kept, so a rerun rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(realpath -m "${STOKER_PY_VENV:-build/python-venv}")
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
# Build requirements installed once into the venv (pyproject.toml's [build-system]); building
# without isolation keeps nanobind's path fixed, so ccache and the kept build dir stay valid.
"$venv/bin/pip" install -q "scikit-build-core>=0.10" "nanobind>=3.1,<4"
settings=()
command -v ccache >/dev/null && settings+=(--config-settings=cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache)
CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} "$venv/bin/pip" install -q --no-build-isolation "${settings[@]}" .
cd python/tests  # `import stoker` must find the installed package, not python/stoker
exec "$venv/bin/python" -m pytest -q "$@" .
