"""Bad input raises the right stoker.Error subclass, naming the stage, file and record."""
import numpy as np
import pytest

import stoker


def test_missing_file_is_not_found(tmp_path):
    path = str(tmp_path / "missing.h5")
    with pytest.raises(stoker.NotFoundError) as e:
        stoker.hdf5(path)
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, stoker.Error)
    assert e.value.file == path and e.value.stage == "hdf5" and e.value.code == "NotFound"


def test_missing_dataset_is_not_found(h5_file):
    with pytest.raises(stoker.NotFoundError, match="/train/nope"):
        stoker.hdf5(h5_file, images="/train/nope")


def test_not_hdf5_is_data_loss(tmp_path):
    path = tmp_path / "bad.h5"
    path.write_bytes(b"this is not an HDF5 file" * 100)
    with pytest.raises(stoker.DataLossError) as e:
        stoker.hdf5(str(path))
    assert e.value.file == str(path)


def test_datasets_of_different_lengths_are_invalid(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = str(tmp_path / "uneven.h5")
    with h5py.File(path, "w") as f:
        f["a"] = np.zeros((10, 2), np.uint8)
        f["b"] = np.zeros(9, np.int64)
    with pytest.raises(stoker.InvalidArgumentError):
        stoker.hdf5(path, datasets=["a", "b"])


def test_corrupt_jpeg_is_data_loss_naming_file_and_record(jpeg_folder, tmp_path):
    _, paths, _ = stoker.list_image_folder(jpeg_folder)
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(open(paths[0], "rb").read()[:200])
    ds = stoker.files([paths[0], str(bad), paths[1]], [0, 1, 2]).map(stoker.decode_jpeg())
    it = ds.iterator(threads=2)
    next(it)
    with pytest.raises(stoker.DataLossError) as e:
        next(it)
    assert e.value.file == str(bad) and e.value.stage == "decode_jpeg"
    assert e.value.record == 1
    # The iterator continues after the bad element.
    assert int(np.asarray(next(it)[1])) == 2
    with pytest.raises(StopIteration):
        next(it)


def test_png_named_jpg_is_unsupported(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    path = tmp_path / "really.jpg"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path, format="PNG")
    with pytest.raises(stoker.UnsupportedError):
        list(stoker.files([str(path)], [0]).map(stoker.decode_jpeg()).iterator())


def test_missing_image_file_is_not_found(tmp_path):
    with pytest.raises(stoker.NotFoundError):
        list(stoker.files([str(tmp_path / "gone.jpg")], [0]).map(stoker.decode_jpeg()).iterator())


def test_batch_of_different_shapes_is_invalid(jpeg_folder, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    other = tmp_path / "big.jpg"
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(other)
    _, paths, _ = stoker.list_image_folder(jpeg_folder)
    with pytest.raises(stoker.InvalidArgumentError):
        list(stoker.files([paths[0], str(other)], [0, 1]).map(stoker.decode_jpeg()).batch(2).iterator())
