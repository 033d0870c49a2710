"""What the tf.data and PyTorch sides of the comparison share: how the data is listed, how an HDF5
file is cut into blocks, and how one pass is timed and reported.

Every side prints exactly one JSON line on stdout (the last line), with the same keys:
  framework, variant, workload, images, batches, batch_shape (the first batch's image tensor),
  image_dtype, label_dtype, seconds, images_per_s, first_batch_s, end_wait_s, settings
so run.py can check that all sides delivered the same data and compute ratios.

Timing rule, the same for every framework: build the pipeline, run a short warm-up (a few batches
from a throwaway iterator: traces tf.functions, starts torch's persistent workers, fills the page
cache), then time one whole pass from creating a fresh iterator until the loop ends (the iterator
reports its end). stoker's CLI times the same span in `stoker bench`.
"""
import argparse
import json
import math
import os
import sys
import time

import h5py
import numpy as np

JPEG_EXTENSIONS = (".jpg", ".jpeg")


def list_image_folder(root):
    """(paths, labels) for root/<class>/**/*.jpg, classes sorted and labelled by index, files
    sorted by (class, path): the order stoker's list_image_folder() produces."""
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if not classes:
        sys.exit(f"{root}: no class sub-folders")
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = []
        for dirpath, _, files in os.walk(os.path.join(root, name), followlinks=True):
            found += [os.path.join(dirpath, f) for f in files if f.lower().endswith(JPEG_EXTENSIONS)]
        found.sort()
        paths += found
        labels += [label] * len(found)
    return paths, np.asarray(labels, dtype=np.int32)


class Hdf5Layout:
    """Rows, row shape, chunk rows and the block size stoker's `bench` uses for this file and
    shuffle buffer (cli/data_source.cc: shuffle_buffer / 16 rows, at most 4 MiB, rounded up to
    whole chunks), so every side visits the same blocks."""

    def __init__(self, path, images="/train/images", labels="/train/labels", shuffle_buffer=10000):
        with h5py.File(path, "r") as f:
            img, lab = f[images], f[labels]
            self.rows = img.shape[0]
            self.row_shape = tuple(img.shape[1:])
            self.image_dtype = img.dtype
            self.label_dtype = lab.dtype
            self.chunk_rows = img.chunks[0] if img.chunks else 1
            row_bytes = int(np.prod(self.row_shape)) * img.dtype.itemsize + lab.dtype.itemsize
        want = min(max(shuffle_buffer // 16, 1) * row_bytes, 4 << 20)
        chunks = max(1, math.ceil(want / (self.chunk_rows * row_bytes)))
        self.block_rows = chunks * self.chunk_rows
        self.blocks = math.ceil(self.rows / self.block_rows)

    def block(self, b):
        lo = b * self.block_rows
        return lo, min(lo + self.block_rows, self.rows)


def timed_pass(make_iterator, warmup_batches=3, to_shape=None, warmup_pass=False):
    """Warm up on a throwaway iterator (a few batches, or a whole pass with warmup_pass: every side
    then times a later epoch of training), then time one whole pass of a fresh one.

    make_iterator() returns an iterable of (images, labels) batches. Returns a dict of the pass'
    counts and timings."""
    it = iter(make_iterator())
    n = 0
    while warmup_pass or n < warmup_batches:
        if next(it, None) is None:
            break
        n += 1
    del it

    t0 = time.perf_counter()
    images = batches = 0
    first_batch_s = None
    shape = image_dtype = label_dtype = None
    for x, y in make_iterator():
        if first_batch_s is None:
            first_batch_s = time.perf_counter() - t0
            shape = list(x.shape)
            image_dtype, label_dtype = str(x.dtype), str(y.dtype)
        images += int(x.shape[0])
        batches += 1
        last_batch_s = time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    return {
        "images": images,
        "batches": batches,
        "batch_shape": shape,
        "image_dtype": image_dtype.replace("torch.", "").replace("<dtype: '", "").replace("'>", ""),
        "label_dtype": label_dtype.replace("torch.", "").replace("<dtype: '", "").replace("'>", ""),
        "seconds": round(seconds, 4),
        "images_per_s": round(images / seconds, 1) if seconds > 0 else 0.0,
        "first_batch_s": round(first_batch_s or 0.0, 4),
        # How long the loop took to end after the last batch (the iterator's end-of-sequence):
        # part of `seconds`, as it is part of every epoch of a training loop.
        "end_wait_s": round(seconds - last_batch_s, 4) if batches else 0.0,
    }


def report(framework, variant, workload, result, settings):
    line = {"framework": framework, "variant": variant, "workload": workload, **result, "settings": settings}
    print(json.dumps(line), flush=True)


def side_parser(doc):
    """The flags every side takes: the workload, its data, the name in the JSON line, the batch."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=["jpeg", "hdf5"])
    p.add_argument("--data", required=True)
    p.add_argument("--name", help="workload name in the JSON line (default: the workload)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--rrc", action="store_true",
                   help="jpeg: random-resized crop (area 0.08-1, aspect 3/4-4/3) to --size and a horizontal flip "
                        "with probability 0.5, the ImageNet training augmentation")
    p.add_argument("--warmup-pass", action="store_true", help="time the second pass (a whole untimed pass first)")
    return p
