"""Fixtures: real HDF5 files (h5py) and JPEG folders (Pillow), generated per test session."""
import os

import numpy as np
import pytest


@pytest.fixture(scope="session")
def h5_file(tmp_path_factory):
    """train.h5: /train/images uint8 [100, 8, 6, 3] (chunked, deflate), /train/labels int64 [100]."""
    h5py = pytest.importorskip("h5py")
    path = str(tmp_path_factory.mktemp("h5") / "train.h5")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(100, 8, 6, 3), dtype=np.uint8)
    labels = np.arange(100, dtype=np.int64) * 7 % 10
    with h5py.File(path, "w") as f:
        f.create_dataset("/train/images", data=images, chunks=(16, 8, 6, 3), compression="gzip")
        f.create_dataset("/train/labels", data=labels, chunks=(16,))
        f.create_dataset("/train/floats", data=rng.standard_normal((100, 5)).astype(np.float32))
    return path


@pytest.fixture(scope="session")
def jpeg_folder(tmp_path_factory):
    """root/<class>/<i>.jpg: 2 classes x 3 images, 20x16 RGB."""
    Image = pytest.importorskip("PIL.Image")
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(1)
    for cls in ("cat", "dog"):
        os.makedirs(root / cls)
        for i in range(3):
            pixels = rng.integers(0, 256, size=(16, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.jpg", quality=95)
    return str(root)
