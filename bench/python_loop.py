#!/usr/bin/env python3
"""A Python loop over a stoker pipeline vs the C++ loop of `stoker bench` on the same pipeline.

    python3 bench/python_loop.py --stoker build/dev/cli/stoker [--data synth.h5] [--threads 2]

Pipeline (both sides): hdf5(images, labels) -> batch(256) -> prefetch(2), memory budget 512M,
the same threads. The C++ side is `stoker bench`'s loop (Iterator::next, sum of shapes); the
Python side is `for images, labels in it:` plus torch.from_dlpack of both tensors when torch is
installed (what a training loop does), else numpy.from_dlpack. Runs are interleaved, REPS each,
after one warm-up run of each (page cache); prints the median images/s and the ratio.
Without --data it makes a file with `stoker make-dataset` (60000 x 64x64x3, uncompressed).
Target: the Python loop within 5% of the C++ loop.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import stoker


def cpp_run(args):
    out = subprocess.run([args.stoker, "bench", "--data", args.data, "--batch", str(args.batch), "--threads",
                          str(args.threads), "--memory-budget", "512M"], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"(\d+) images in ([0-9.]+) s", out)
    return int(m.group(1)) / float(m.group(2))


def py_run(args, to_framework):
    ds = stoker.hdf5(args.data, images="/train/images", labels="/train/labels").batch(args.batch).prefetch(2)
    it = ds.iterator(threads=args.threads, memory_budget="512M", seed=0)
    images = 0
    t0 = time.perf_counter()
    for x, y in it:
        x, y = to_framework(x), to_framework(y)
        images += x.shape[0]
    return images / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stoker", required=True, help="path to the stoker command")
    p.add_argument("--data", help="HDF5 file with /train/images and /train/labels")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    tmp = None
    if not args.data:
        tmp = tempfile.TemporaryDirectory()
        args.data = os.path.join(tmp.name, "synth.h5")
        subprocess.run([args.stoker, "make-dataset", args.data, "--n", "60000", "--size", "64x64", "--threads",
                        str(args.threads)], check=True, capture_output=True)
    try:
        import torch
        to_framework, framework = torch.from_dlpack, "torch.from_dlpack"
    except ImportError:
        import numpy
        to_framework, framework = numpy.from_dlpack, "numpy.from_dlpack"

    cpp_run(args), py_run(args, to_framework)  # warm-up: page cache, allocator, TBB threads
    cpp, py = [], []
    for _ in range(args.reps):
        cpp.append(cpp_run(args))
        py.append(py_run(args, to_framework))
    c, q = statistics.median(cpp), statistics.median(py)
    print(f"stoker {stoker.__version__}, {args.data}, batch {args.batch}, {args.threads} threads, {args.reps} reps")
    print(f"C++ loop (stoker bench):        {c:12.0f} images/s  (runs: {', '.join(f'{x:.0f}' for x in cpp)})")
    print(f"Python loop ({framework}): {q:12.0f} images/s  (runs: {', '.join(f'{x:.0f}' for x in py)})")
    print(f"Python / C++: {q / c:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
