"""The stoker side of the comparison: the same pipelines as `stoker bench`, built with the Python
module (pip install . from the repository root) and timed in the same Python loop as the other
sides (common.timed_pass), so every contender pays the same per-batch Python cost.

  jpeg:  image_folder -> shuffle (the whole path list) -> map(decode_jpeg [fused DCT-scaled decode
         + bilinear resize to --size; --rrc: random-resized crop + flip, windowed decode, with
         --mcu-index an index of MCU positions], T threads) -> batch(B) -> prefetch(2)
  hdf5:  hdf5 (chunk-aligned blocks of common.Hdf5Layout's size, in random order) -> shuffle(S)
         -> batch(B) -> prefetch(2)
Batches reach the loop as stoker.Tensor (zero-copy DLPack/array-interface tensors).
stoker_binary() (the CLI, for `stoker make-dataset` in run.py) is found from $STOKER or the
repository's build/cli/stoker.
"""
import os
import sys

import common

HERE = os.path.dirname(os.path.abspath(__file__))


def stoker_binary():
    path = os.environ.get("STOKER") or os.path.join(HERE, "..", "..", "build", "cli", "stoker")
    if not os.access(path, os.X_OK):
        sys.exit(f"no stoker binary at {path}: build the project (scripts/test.sh or cmake) or set STOKER")
    return os.path.abspath(path)


def main():
    p = common.side_parser(__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--shuffle-buffer", type=int, default=10000)
    p.add_argument("--size", help="jpeg: HxW (default: the first image's size)")
    p.add_argument("--memory-budget", default="512M")
    p.add_argument("--mcu-index", type=int, default=0,
                   help="jpeg --rrc: decode_jpeg's mcu_index_bytes (later passes decode only the crop's MCUs)")
    args = p.parse_args()
    try:
        import stoker
    except ImportError:
        sys.exit("no stoker Python module: pip install the repository root into this venv (setup-venv.sh does)")

    if args.workload == "jpeg":
        classes, paths, labels = stoker.list_image_folder(args.data)
        size = tuple(int(v) for v in args.size.split("x")) if args.size else None
        if args.rrc:
            decode = stoker.decode_jpeg(size=size, crop="random_resized", flip=0.5, mcu_index_bytes=args.mcu_index)
            op = f"decode_jpeg(size={size}, crop='random_resized', flip=0.5, mcu_index_bytes={args.mcu_index})"
        else:
            decode, op = stoker.decode_jpeg(size=size), f"decode_jpeg(size={size})"
        ds = stoker.files(paths, labels).shuffle(len(paths)).map(decode).batch(args.batch).prefetch(2)
        pipeline = f"files({len(paths)}) -> shuffle({len(paths)}) -> map({op}) -> batch({args.batch}) -> prefetch(2)"
    else:
        layout = common.Hdf5Layout(args.data, shuffle_buffer=args.shuffle_buffer)
        ds = (stoker.hdf5(args.data, block_rows=layout.block_rows, shuffle_blocks=True)
              .shuffle(args.shuffle_buffer).batch(args.batch).prefetch(2))
        pipeline = (f"hdf5(block_rows={layout.block_rows}, shuffle_blocks) -> shuffle({args.shuffle_buffer}) "
                    f"-> batch({args.batch}) -> prefetch(2)")
    epoch = [0]

    def make_iterator():
        epoch[0] += 1
        return ds.iterator(threads=args.threads, memory_budget=args.memory_budget, seed=epoch[0])

    result = common.timed_pass(make_iterator, warmup_pass=args.warmup_pass)
    settings = {"pipeline": pipeline, "memory_budget": args.memory_budget, "stoker": stoker.__version__,
                "cpus": os.cpu_count()}
    common.report("stoker", f"threads={args.threads}", args.name or args.workload, result, settings)


if __name__ == "__main__":
    main()
