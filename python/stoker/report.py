"""python -m stoker.report run.jsonl [trace.json] -o report.png: a training run as one picture.

From the JSON lines `stoker train --log` writes: loss and accuracy per epoch (train, and
validation when the run had it), samples/s and input stall % per epoch. With the Chrome trace of
`--trace`: where each thread's time went (self time of its spans, by span name; waits hatched).

Needs matplotlib (Debian python3-matplotlib, or pip install "stoker[report]"); `import stoker`
does not. Exit codes: 0 written, 1 a bad log or trace (the message names the file and line),
2 usage.
"""
import argparse
import math
import os
import sys

from ._report_data import ReportError, read_log, read_trace

# Pixel size of the PNG (inches at DPI): fixed, so the layout does not depend on the labels.
DPI = 100
SIZE = (12, 8)
SIZE_WITH_TRACE = (12, 12)
TOP_SPAN_NAMES = 6  # the trace panel names this many span names; the rest are "other"


def _plot_series(ax, epochs, series, title, ylabel):
    """Lines of [(label, values)]; a series with no finite value (no validation) is left out."""
    drawn = False
    for i, (label, values) in enumerate(series):
        if any(math.isfinite(v) for v in values):
            ax.plot(epochs, values, marker="o", label=label, color=f"C{i}")  # same colour per label in every log
            drawn = True
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if drawn and len(series) > 1:
        ax.legend()
    if not drawn:
        ax.text(0.5, 0.5, "not in the log", ha="center", va="center", transform=ax.transAxes)


def _plot_trace(ax, threads):
    """Stacked horizontal bars: one per thread track, one segment per span name."""
    totals = {}
    for _, times, _ in threads:
        for name, s in times.items():
            totals[name] = totals.get(name, 0.0) + s
    top = sorted(totals, key=totals.get, reverse=True)[:TOP_SPAN_NAMES]
    cats = threads[0][2]
    colors = {name: f"C{i}" for i, name in enumerate(top)}
    labels = [t[0] for t in threads]
    left = [0.0] * len(threads)
    for name in top + ["other"]:
        widths = [times.get(name, 0.0) if name != "other" else
                  sum(s for n, s in times.items() if n not in colors) for _, times, _ in threads]
        if not any(widths):
            continue
        wait = name != "other" and cats.get(name) == "wait"
        ax.barh(labels, widths, left=left, label=name, color=colors.get(name, "0.6"),
                hatch="//" if wait else None, edgecolor="white" if wait else None)
        left = [a + b for a, b in zip(left, widths)]
    ax.invert_yaxis()  # first track (the trainer's) on top
    ax.set_title("time per thread track (self time of its spans; hatched: waiting)")
    ax.set_xlabel("seconds")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=4, fontsize="small")  # under the axis


def draw(log_path, output, trace_path=None):
    """Writes the PNG; raises ReportError on a bad log or trace (before touching `output`)."""
    log = read_log(log_path)
    threads = read_trace(trace_path) if trace_path else None
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ReportError("matplotlib is needed: apt-get install python3-matplotlib "
                          "or pip install matplotlib") from None

    fig = Figure(figsize=SIZE_WITH_TRACE if threads else SIZE, dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(3 if threads else 2, 2, height_ratios=[1, 1, 1.3] if threads else [1, 1])
    epochs = log["epoch"]
    panels = [
        ("loss", "loss", [("train", log["loss"]), ("validation", log["val_loss"])]),
        ("accuracy", "accuracy", [("train", log["accuracy"]), ("validation", log["val_accuracy"])]),
        ("throughput", "samples/s", [("samples/s", log["samples_per_s"])]),
        ("input stall", "% of step time waiting for input",
         [("pipeline", log["stall_pct"]), ("GPU (device feeder)", log["feeder_stall_pct"])]),
    ]
    for i, (title, ylabel, series) in enumerate(panels):
        ax = fig.add_subplot(grid[i // 2, i % 2])
        _plot_series(ax, epochs, series, title, ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(epochs) == 1:  # a one-point axis would get fractional ticks around it
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
            ax.set_xticks(epochs)
    if threads:
        _plot_trace(fig.add_subplot(grid[2, :]), threads)
    name = os.path.basename(log_path) + (f" + {os.path.basename(trace_path)}" if trace_path else "")
    fig.suptitle(f"{name}: {len(epochs)} epoch{'s' if len(epochs) != 1 else ''}")
    try:
        fig.savefig(output, format="png")
    except OSError as e:
        raise ReportError(f"{output}: cannot write ({e.strerror})") from None


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m stoker.report",
        description="Draw a `stoker train --log` run (and its --trace) as one PNG.")
    parser.add_argument("log", help="JSON lines of `stoker train --log`")
    parser.add_argument("trace", nargs="?", help="Chrome trace of `stoker train --trace` (optional)")
    parser.add_argument("-o", "--output", default="report.png", help="PNG to write (report.png)")
    args = parser.parse_args(argv)
    try:
        draw(args.log, args.output, args.trace)
    except ReportError as e:
        print(f"stoker.report: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
