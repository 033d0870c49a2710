"""examples/torch_train.py trains on a generated HDF5 file through stoker and learns it."""
import os
import re
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def test_torch_train_learns(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("h5py")
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "torch_train.py"), "--make-data",
                          str(tmp_path / "demo.h5"), "--epochs", "2", "--threads", "2"],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    acc = [float(a) for a in re.findall(r"accuracy ([0-9.]+)", out)]
    assert len(acc) == 2, out
    # 4 classes: chance is 0.25; the bands are separable, so epoch 2 is near 1.
    assert acc[-1] > 0.9, out
