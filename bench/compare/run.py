#!/usr/bin/env python3
"""Side-by-side input-pipeline comparison: stoker vs tf.data vs PyTorch DataLoader.

Makes the datasets with `stoker make-dataset` (once; kept in the work dir), reads them once to
warm the page cache, then runs every contender of every workload interleaved, REPS times, each
in a fresh process (the order rotates each repetition). Prints images/s per contender as
min/median/max and stoker's ratio to each peer as min/median/max over the per-repetition ratios
(stoker's run and the peer's run of the same repetition are at most a minute apart, so a load
change on the machine moves both). "end wait" is how long a Python loop took to end after its last
batch (part of the pass' time).

Environment:
  STOKER_COMPARE_DIR  work dir for datasets and results (default: $TMPDIR/stoker-compare)
  STOKER              the stoker binary (default: <repo>/build/cli/stoker)
  REPS                repetitions (default 5; --reps overrides)

Run it with the Python that has tensorflow-cpu, torch and h5py (see README.md: setup-venv.sh).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from stoker_side import stoker_binary  # noqa: E402

# name -> how the data is made. Sizes chosen so one pass takes ~3-40 s per contender on 2 cores.
DATASETS = {
    "jpeg128": {"kind": "jpeg", "n": 30000, "size": "128x128"},
    "jpeg256": {"kind": "jpeg", "n": 10000, "size": "256x256"},
    "h5_64": {"kind": "hdf5", "n": 200000, "size": "64x64"},
    # ImageNet-like photos (500x375, ~107 KB at quality 90), made by bench/jpeg_bench's generator.
    "photos": {"kind": "jpeg", "n": 2000, "size": "500x375", "maker": "jpeg_bench"},
}
QUICK = {"jpeg128": 2000, "jpeg256": 1000, "h5_64": 10000, "photos": 256}

# workload -> dataset, extra args for every side, and its contenders: (label, script, args).
# The first tf.data and the first torch contender are the headline peers.
WORKLOADS = {
    "jpeg": {
        "dataset": "jpeg128", "args": [],
        "what": "JPEG folder, 128x128 files decoded to 128x128x3 uint8 (no resize)",
        "contenders": [
            ("stoker", "stoker_side.py", []),
            ("tf.data", "tf_side.py", []),
            ("tf.data AUTOTUNE", "tf_side.py", ["--autotune"]),
            ("torch", "torch_side.py", ["--decoder", "torchvision"]),
            ("torch PIL", "torch_side.py", ["--decoder", "pil"]),
        ],
    },
    "jpeg-resize": {
        "dataset": "jpeg256", "args": ["--size", "128x128"],
        "what": "JPEG folder, 256x256 files decoded and resized to 128x128x3 uint8 (bilinear)",
        "contenders": [
            ("stoker", "stoker_side.py", []),
            ("tf.data", "tf_side.py", []),
            ("tf.data dct-scale", "tf_side.py", ["--dct-scale"]),
            ("torch", "torch_side.py", ["--decoder", "torchvision"]),
        ],
    },
    "jpeg-rrc": {
        "dataset": "photos", "args": ["--size", "224x224", "--rrc", "--warmup-pass"],
        "what": "ImageNet-like 500x375 photos, random-resized crop to 224x224 + flip (the training augmentation); "
                "every side times its second pass",
        "contenders": [
            ("stoker", "stoker_side.py", ["--mcu-index", str(64 << 20)]),
            ("stoker no index", "stoker_side.py", []),
            ("tf.data", "tf_side.py", []),
            ("torch", "torch_side.py", ["--decoder", "torchvision"]),
        ],
    },
    "hdf5": {
        "dataset": "h5_64", "args": [],
        "what": "HDF5 /train/images uint8 [N,64,64,3] + /train/labels int32, uncompressed, 85-row chunks",
        "contenders": [
            ("stoker", "stoker_side.py", []),
            ("tf.data", "tf_side.py", ["--reader", "map"]),
            ("torch", "torch_side.py", ["--reader", "rows"]),
            ("torch blocks", "torch_side.py", ["--reader", "blocks"]),
        ],
    },
}


def log(msg):
    print(msg, flush=True)


def make_datasets(work, names, quick):
    stoker = stoker_binary()
    paths = {}
    for name in names:
        spec = dict(DATASETS[name])
        if quick:
            spec["n"] = QUICK[name]
        out = os.path.join(work, name + ("-quick" if quick else "") + (".h5" if spec["kind"] == "hdf5" else ""))
        stamp = out + ".spec.json"
        paths[name] = out if spec["kind"] == "hdf5" else os.path.join(out, "train")
        if os.path.exists(stamp) and json.load(open(stamp)) == spec:
            continue
        log(f"making {name}: {spec}")
        subprocess.run(["rm", "-rf", out], check=True)
        if spec.get("maker") == "jpeg_bench":
            bench = os.path.join(os.path.dirname(os.path.dirname(stoker)), "bench", "jpeg_bench")
            env = dict(os.environ, STOKER_JPEG_BENCH_DIR=paths[name], STOKER_JPEG_BENCH_COUNT=str(spec["n"]),
                       STOKER_BENCH_REPS="0")
            subprocess.run([bench, "--benchmark_filter=none"], check=True, env=env, stdout=subprocess.DEVNULL)
        else:
            cmd = [stoker, "make-dataset", out, "--n", str(spec["n"]), "--test-n", "0", "--size", spec["size"]]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        json.dump(spec, open(stamp, "w"))
    return paths


def warm_page_cache(path):
    """Read every file once, so each contender's first run does not pay the disk."""
    files = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 24):
                total += len(chunk)
    return total


def run_one(script, kind, data, name, common_args, extra, timeout):
    cmd = [sys.executable, os.path.join(HERE, script), kind, "--data", data, "--name", name] + common_args + extra
    load = os.getloadavg()[0]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    line = json.loads(r.stdout.strip().splitlines()[-1])
    line["load_before"] = round(load, 2)
    line["load_after"] = round(os.getloadavg()[0], 2)
    return line


def mmm(xs):
    return min(xs), statistics.median(xs), max(xs)


def check(workload, runs):
    """All contenders delivered the same number of images, in batches of the same shape."""
    first = {label: rs[0] for label, rs in runs.items()}
    images = {label: r["images"] for label, r in first.items()}
    shapes = {label: (tuple(r["batch_shape"]), r["image_dtype"]) for label, r in first.items()}
    batches = {label: r["batches"] for label, r in first.items()}
    ok = len(set(images.values())) == 1 and len(set(shapes.values())) == 1
    for label, rs in runs.items():
        ok &= all(r["images"] == rs[0]["images"] and r["batches"] == rs[0]["batches"] for r in rs)
    n = next(iter(images.values()))
    shape, dtype = next(iter(shapes.values()))
    text = (f"check {workload}: {'OK' if ok else 'MISMATCH'}: images {images if len(set(images.values())) > 1 else n}, "
            f"first batch {shapes if len(set(shapes.values())) > 1 else f'{list(shape)} {dtype}'}, "
            f"batches {batches}")
    return ok, text


def summarize(results, order):
    lines = []
    ok_all = True
    for workload in order:
        runs = {}
        for r in results:
            if r["workload"] == workload:
                runs.setdefault(r["label"], []).append(r)
        if not runs:
            continue
        ok, text = check(workload, runs)
        ok_all &= ok
        lines.append(f"\n## {workload}: {WORKLOADS[workload]['what']}")
        lines.append(text)
        lines.append("")
        lines.append("| contender | variant | images/s min | median | max | stoker / it: min | median | max "
                     "| end wait s: median (max) |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        stoker = [r["images_per_s"] for r in runs["stoker"]]
        for label, rs in runs.items():
            ips = [r["images_per_s"] for r in rs]
            lo, med, hi = mmm(ips)
            row = f"| {label} | {rs[0]['variant']} | {lo:,.0f} | {med:,.0f} | {hi:,.0f} |"
            if label == "stoker":
                row += " | | |"
            else:
                ratios = [a / b for a, b in zip(stoker, ips)]
                rlo, rmed, rhi = mmm(ratios)
                row += f" {rlo:.2f} | {rmed:.2f} | {rhi:.2f} |"
            waits = [r["end_wait_s"] for r in rs if r.get("end_wait_s") is not None]
            row += f" {statistics.median(waits):.2f} ({max(waits):.2f}) |" if waits else " |"
            lines.append(row)
    return ok_all, "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=int(os.environ.get("REPS", 5)))
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated, of {','.join(WORKLOADS)}")
    p.add_argument("--only", help="comma-separated contender labels to run (stoker is always run)")
    p.add_argument("--quick", action="store_true", help="small datasets (a smoke test, not a measurement)")
    p.add_argument("--threads", type=int, default=2, help="stoker threads, tf.data num_parallel_calls, torch num_workers")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--shuffle-buffer", type=int, default=10000)
    p.add_argument("--timeout", type=int, default=600, help="seconds per contender run")
    p.add_argument("--summarize", metavar="RESULTS_JSONL", help="print the tables of an earlier run's results and exit")
    args = p.parse_args()
    if args.summarize:
        results = [json.loads(line) for line in open(args.summarize)]
        order = [w for w in WORKLOADS if any(r["workload"] == w for r in results)]
        ok, table = summarize(results, order)
        print(table)
        sys.exit(0 if ok else 1)

    work = os.environ.get("STOKER_COMPARE_DIR") or os.path.join(tempfile.gettempdir(), "stoker-compare")
    os.makedirs(work, exist_ok=True)
    order = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in order:
        if w not in WORKLOADS:
            sys.exit(f"--workloads: unknown workload {w!r}; have {', '.join(WORKLOADS)}")
    only = set(args.only.split(",")) | {"stoker"} if args.only else None

    log(f"work dir {work}, stoker {stoker_binary()}, python {sys.executable}, {os.cpu_count()} CPUs, "
        f"{args.reps} repetitions")
    data = make_datasets(work, sorted({WORKLOADS[w]["dataset"] for w in order}), args.quick)
    for name, path in data.items():
        log(f"warm page cache: {path} ({warm_page_cache(path) / 2**20:.0f} MiB)")

    common_args = ["--batch", str(args.batch), "--threads", str(args.threads), "--shuffle-buffer", str(args.shuffle_buffer)]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = os.path.join(work, f"results-{stamp}.jsonl")
    results = []
    load_start = os.getloadavg()
    t_start = time.time()
    with open(out_path, "w") as out:
        for rep in range(args.reps):
            for w in order:
                spec = WORKLOADS[w]
                contenders = [c for c in spec["contenders"] if only is None or c[0] in only]
                k = rep % len(contenders)
                for label, script, extra in contenders[k:] + contenders[:k]:
                    kind = DATASETS[spec["dataset"]]["kind"]
                    r = run_one(script, kind, data[spec["dataset"]], w, common_args + spec["args"], extra, args.timeout)
                    r.update({"label": label, "rep": rep})
                    results.append(r)
                    out.write(json.dumps(r) + "\n")
                    out.flush()
                    log(f"rep {rep + 1}/{args.reps} {w:12s} {label:18s} {r['images_per_s']:>10,.0f} images/s "
                        f"({r['images']} images, {r['batches']} batches, {r['seconds']:.2f} s, load {r['load_before']:.2f})")
    load_end = os.getloadavg()
    ok, table = summarize(results, order)
    header = (f"# stoker vs tf.data vs PyTorch DataLoader: {args.reps} interleaved repetitions, "
              f"{os.cpu_count()} CPUs, threads/workers {args.threads}, batch {args.batch}, shuffle buffer {args.shuffle_buffer}"
              f"{' (QUICK: smoke test, not a measurement)' if args.quick else ''}\n"
              f"{time.strftime('%Y-%m-%d %H:%M')}, {time.time() - t_start:.0f} s; load average at start "
              f"{' '.join(f'{v:.2f}' for v in load_start)}, at end {' '.join(f'{v:.2f}' for v in load_end)}")
    summary = header + "\n" + table + "\n"
    with open(os.path.join(work, f"summary-{stamp}.md"), "w") as f:
        f.write(summary)
    log("\n" + summary)
    log(f"results: {out_path}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
