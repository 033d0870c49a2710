"""stoker: stream datasets larger than RAM from disk into training, with tf.data's API.

    import stoker, torch
    ds = (stoker.hdf5("train.h5", images="/train/images", labels="/train/labels")
                .shuffle(10_000, seed=0).batch(256).prefetch(2))
    for images, labels in ds.iterator(threads=8, memory_budget="2G", seed=0):
        x = torch.from_dlpack(images)   # zero copy; the batch lives while x does
        y = torch.from_dlpack(labels)

Sources: hdf5(), image_folder(), files(), range(). Transformations (Dataset methods): map, shuffle,
batch, padded_batch, prefetch, repeat, take, skip, shard, cache. Built-in map ops (parallel, no
GIL): decode_jpeg, normalize, cast, resize, center_crop, random_crop, random_flip, read_file. A
Python callable also works as a map function but holds the GIL (one element at a time).

Batches are tuples of stoker.Tensor: __dlpack__/__dlpack_device__ (torch.from_dlpack,
numpy.from_dlpack, jax.dlpack.from_dlpack) and __array_interface__ (numpy.asarray), all without
copies. Errors are stoker.Error subclasses (DataLossError, NotFoundError, ...) with .stage, .file,
.record.
"""

from ._errors import (CancelledError, CudaError, DataLossError, Error, InternalError, InvalidArgumentError,
                      IOError, NotFoundError, OutOfMemoryError, UnsupportedError)
from ._stoker import (AUTOTUNE, Dataset, Iterator, Op, Tensor, __version__, cast, center_crop, decode_jpeg, files,
                      hdf5, image_folder, list_image_folder, normalize, random_crop, random_flip, read_file, resize)
from ._stoker import range as _range


def range(start, stop=None, step=1):  # noqa: A001 - tf.data.Dataset.range's name
    """int64 scalars: range(stop) or range(start, stop[, step])."""
    if stop is None:
        start, stop = 0, start
    return _range(start, stop, step)


__all__ = [
    "AUTOTUNE", "Dataset", "Iterator", "Op", "Tensor", "__version__",
    "hdf5", "image_folder", "list_image_folder", "files", "range",
    "decode_jpeg", "normalize", "cast", "resize", "center_crop", "random_crop", "random_flip", "read_file",
    "Error", "InvalidArgumentError", "NotFoundError", "IOError", "DataLossError", "UnsupportedError",
    "OutOfMemoryError", "CudaError", "CancelledError", "InternalError",
]
