#!/usr/bin/env python3
"""Ratios of two benchmarks measured side by side in one Google Benchmark run.

Usage: ratio.py results.json NUMERATOR DENOMINATOR [--metric items_per_second|bytes_per_second|real_time]

Pairs the repetitions of the two benchmarks in order (repetition k of each ran in the same
process, minutes apart at most) and prints min/median/max of numerator/denominator.
"""
import json
import statistics
import sys


def runs(data, name, metric):
    out = [b[metric] for b in data["benchmarks"]
           if b.get("run_type") == "iteration" and b["name"].split("/repeats")[0].removesuffix("/real_time").removesuffix("/manual_time") == name]
    if not out:
        names = sorted({b["name"] for b in data["benchmarks"]})
        sys.exit(f"no runs of {name!r}; have: {names}")
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    metric = "items_per_second"
    for a in sys.argv[1:]:
        if a.startswith("--metric="):
            metric = a.split("=", 1)[1]
    if len(args) != 3:
        sys.exit(__doc__)
    with open(args[0]) as f:
        data = json.load(f)
    num, den = runs(data, args[1], metric), runs(data, args[2], metric)
    ratios = [a / b for a, b in zip(num, den)]
    print(f"{args[1]} / {args[2]} ({metric}, {len(ratios)} runs): "
          f"min {min(ratios):.3f}  median {statistics.median(ratios):.3f}  max {max(ratios):.3f}")


if __name__ == "__main__":
    main()
