#!/usr/bin/env python3
"""A Python loop over a stoker pipeline vs a C++ loop over the same pipeline, in one process.

    python3 bench/python_loop.py --data synth.h5 [--threads 2]
    python3 bench/python_loop.py --stoker build/dev/cli/stoker   # makes synth.h5 with it first

Pipeline (both sides): hdf5(images, labels) -> batch(256) -> prefetch(2), memory budget 512M,
the same threads. The C++ side is stoker._stoker._cpp_loop: `stoker bench`'s loop
(Iterator::next, no Python per batch) inside this process, so both sides share the warm page cache,
allocator and thread start-up costs. The Python side is `for images, labels in it:` plus
torch.from_dlpack of both tensors when torch is installed (what a training loop does), else
numpy.from_dlpack. Runs alternate, REPS each, after one warm-up run of each; prints the median
images/s and the ratio. Without --data it makes a file with `stoker make-dataset` (60000 x 64x64x3,
uncompressed). Target: the Python loop within 5% of the C++ loop.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import stoker


def pipeline(args):
    return stoker.hdf5(args.data, images="/train/images", labels="/train/labels").batch(args.batch).prefetch(2)


def cpp_run(args):
    rows, seconds = stoker._stoker._cpp_loop(pipeline(args), threads=args.threads, memory_budget="512M", seed=0)
    return rows / seconds


def py_run(args, to_framework):
    it = pipeline(args).iterator(threads=args.threads, memory_budget="512M", seed=0)
    images = 0
    t0 = time.perf_counter()
    for x, y in it:
        x, y = to_framework(x), to_framework(y)
        images += x.shape[0]
    return images / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stoker", help="the stoker command, to make the data when --data is not given")
    p.add_argument("--data", help="HDF5 file with /train/images and /train/labels")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args()
    tmp = None
    if not args.data:
        if not args.stoker:
            p.error("--data or --stoker is required")
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
    print(f"C++ loop (in process):          {c:12.0f} images/s  (runs: {', '.join(f'{x:.0f}' for x in cpp)})")
    print(f"Python loop ({framework}): {q:12.0f} images/s  (runs: {', '.join(f'{x:.0f}' for x in py)})")
    print(f"Python / C++: {q / c:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
