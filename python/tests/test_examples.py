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


def test_torch_ddp_ranks_take_equal_steps(tmp_path):
    """Two gloo ranks on uneven shards (4396 rows in 256-row blocks: 9 blocks vs 8 + 44 rows) run
    the same number of steps because of shard(equal=True); without it rank 0 would have 36 batches
    and rank 1 32, and DDP's all-reduce would wait forever."""
    pytest.importorskip("torch")
    pytest.importorskip("h5py")
    import socket
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = str(tmp_path / "ddp.h5")
    env_base = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2",
                    PYTHONPATH=EXAMPLES + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "torch_ddp.py"), "--make-data", data,
                               "--epochs", "2"], env=dict(env_base, RANK=str(r)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for r in range(2)]
    try:
        outs = [p.communicate(timeout=180)[0] for p in procs]
    finally:
        for p in procs:  # a hung rank must not outlive the test
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], outs
    steps = re.findall(r"steps per rank \[(\d+), (\d+)\] \(expected (\d+)\)", outs[0])
    assert len(steps) == 2, outs[0]
    for a, b, expected in steps:
        # 2092 rows per rank after the equal cut: 32 full batches of 64.
        assert a == b == expected == "32", outs[0]
    acc = [float(a) for a in re.findall(r"accuracy ([0-9.]+)", outs[0])]
    assert acc[-1] > 0.9, outs[0]
