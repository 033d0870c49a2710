"""The stoker side of the comparison: runs `stoker bench` (the CLI, a C++ process of its own) and
turns its report into the same JSON line as the other sides (see common.py).

`stoker bench --data D --batch B --threads T --shuffle-buffer S [--size HxW]` runs
  jpeg:  image_folder -> shuffle (the whole path list, whatever S > 0) -> map(decode_jpeg [fused
         DCT-scaled decode + bilinear resize], T threads) -> batch(B) -> prefetch(2)
  hdf5:  hdf5 (chunk-aligned blocks in random order, one read ahead) -> shuffle(S) -> batch(B)
         -> prefetch(2)
and times from iterator creation to the last batch. A short `--limit` run first is the warm-up.

No Python import of stoker: there are no Python bindings; the binary is found from $STOKER or
the repository's build/cli/stoker.
"""
import os
import re
import subprocess
import sys

import common

HERE = os.path.dirname(os.path.abspath(__file__))


def stoker_binary():
    path = os.environ.get("STOKER") or os.path.join(HERE, "..", "..", "build", "cli", "stoker")
    if not os.access(path, os.X_OK):
        sys.exit(f"no stoker binary at {path}: build the project (scripts/test.sh or cmake) or set STOKER")
    return os.path.abspath(path)


def parse(out, batch):
    """images, seconds, batches and shapes from `stoker bench` output."""
    m = re.search(r"^(\d+) images in ([\d.]+) s: ([\d.]+) images/s", out, re.M)
    if not m:
        sys.exit("could not find the images/s line in stoker's output:\n" + out)
    images, seconds = int(m.group(1)), float(m.group(2))
    batches = int(re.search(r"^prefetch\S*\s+\d+\s+(\d+)", out, re.M).group(1))
    data = re.search(r"^data: .*$", out, re.M).group(0)
    jm = re.search(r"decoded to (\d+)x(\d+)x(\d+) (\w+)", data)
    if jm:  # image folder: labels are int32 class indices
        row, image_dtype, label_dtype = [int(v) for v in jm.groups()[:3]], jm.group(4), "int32"
    else:  # hdf5: "/train/images uint8 [N,H,W,C], /train/labels int32"
        hm = re.search(r" (\w+) \[\d+,([\d,]+)\], \S+ (\w+)", data)
        row, image_dtype, label_dtype = [int(v) for v in hm.group(2).split(",")], hm.group(1), hm.group(3)
        if label_dtype not in ("int32", "int64"):
            label_dtype = "int32"  # the CLI casts other integer labels to int32
    return {
        "images": images,
        "batches": batches,
        "batch_shape": [min(batch, images)] + row,
        "image_dtype": image_dtype,
        "label_dtype": label_dtype,
        "seconds": seconds,
        "images_per_s": round(images / seconds, 1) if seconds > 0 else 0.0,
        "first_batch_s": None,  # not reported by the CLI
        "end_wait_s": None,
    }


def main():
    p = common.side_parser(__doc__)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--shuffle-buffer", type=int, default=10000)
    p.add_argument("--size", help="jpeg: HxW (default: the first image's size)")
    p.add_argument("--memory-budget", default="512M")
    args = p.parse_args()

    cmd = [stoker_binary(), "bench", "--data", args.data, "--batch", str(args.batch), "--threads", str(args.threads),
           "--shuffle-buffer", str(args.shuffle_buffer), "--memory-budget", args.memory_budget]
    if args.size:
        cmd += ["--size", args.size]
    subprocess.run(cmd + ["--limit", str(3 * args.batch)], check=True, capture_output=True, text=True)
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {run.returncode}:\n{run.stdout}{run.stderr}")
    result = parse(run.stdout, args.batch)
    peak = re.search(r"^peak memory: (.*)$", run.stdout, re.M)
    pipeline = re.search(r"^pipeline: (.*)$", run.stdout, re.M)
    settings = {"command": " ".join(cmd[1:]), "pipeline": pipeline.group(1) if pipeline else None,
                "peak_memory": peak.group(1) if peak else None, "cpus": os.cpu_count()}
    common.report("stoker", f"threads={args.threads}", args.name or args.workload, result, settings)


if __name__ == "__main__":
    main()
