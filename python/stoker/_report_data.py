"""Reading what `stoker train --log/--trace` writes, for stoker.report (no matplotlib here).

read_log: the JSON Lines of `--log` (one object per epoch, keys of cli/json_report.cc: epoch, loss,
accuracy, [val_loss, val_accuracy,] samples_per_s, stall_pct, [feeder.input_stall_pct], ...).
read_trace: the Chrome trace JSON of `--trace` (complete "X" events with tid, name, cat, ts, dur
in microseconds, and "thread_name" metadata events), reduced to self time per thread and name.
Both raise ReportError naming the file (and the line) and what is wrong.
"""
import json
import math
from collections import defaultdict


MAX_LINE = 1 << 20  # characters; a --log line is under 1 KiB: anything longer is another file


class ReportError(ValueError):
    """A log or trace that cannot be drawn; the message names the file and what is wrong."""


def _number(value):
    """A log number; null (a loss that diverged: JSON has no NaN) and absent keys become NaN."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def read_log(path):
    """Epochs of a `--log` file as {key: [value per epoch]} in epoch order, plus "epoch".

    A resumed run appends to its log, so an epoch may appear more than once (the line of an
    epoch cut short by Ctrl-C or a kill, then the line of the resumed epoch): the last line of an
    epoch counts. Blank lines are ignored.
    """
    by_epoch = {}
    try:
        with open(path, encoding="utf-8") as f:
            # readline(limit): a file without newlines is not read whole into memory.
            for number, line in enumerate(iter(lambda: f.readline(MAX_LINE + 1), ""), start=1):
                if len(line) > MAX_LINE:
                    raise ReportError(f"{path} line {number}: longer than {MAX_LINE} characters; "
                                      "expected the lines of `stoker train --log`")
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    raise ReportError(f"{path} line {number}: not a JSON object ({e})") from None
                if not isinstance(obj, dict):
                    raise ReportError(f"{path} line {number}: not a JSON object (a {type(obj).__name__})")
                epoch = obj.get("epoch")
                if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
                    raise ReportError(f"{path} line {number}: no \"epoch\" (a positive integer); "
                                      "expected the lines of `stoker train --log`")
                by_epoch[epoch] = obj
    except UnicodeDecodeError as e:
        raise ReportError(f"{path}: not text (byte {e.start}: {e.reason}); expected JSON lines") from None
    except OSError as e:
        raise ReportError(f"{path}: cannot read ({e.strerror})") from None
    if not by_epoch:
        raise ReportError(f"{path}: empty log (no epoch lines); `stoker train --log` writes one line per epoch")

    epochs = sorted(by_epoch)
    rows = [by_epoch[e] for e in epochs]
    out = {"epoch": epochs}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "samples_per_s", "stall_pct"):
        out[key] = [_number(r.get(key)) for r in rows]
    # Epochs fed by the device feeder also report the GPU's input stall (time the GPU waited).
    out["feeder_stall_pct"] = [_number((r.get("feeder") or {}).get("input_stall_pct")) for r in rows]
    return out


def _self_times(spans):
    """{name: seconds} of one thread's spans, each span counted without the spans nested in it.

    Spans on one thread nest (a "wait: batch memory" inside a "batch"), so summing durations
    would count the inner time twice; self time sums to the time covered by any span.
    """
    totals = defaultdict(float)
    stack = []  # [end_us, name] of the open spans, outermost first
    for ts, dur, name in sorted(spans, key=lambda s: (s[0], -s[1])):
        end = ts + dur
        while stack and ts >= stack[-1][0]:
            stack.pop()
        # ts and dur are rounded to microsecond fractions when written: allow a nanosecond.
        if stack and end <= stack[-1][0] + 1e-3:
            totals[stack[-1][1]] -= dur  # the parent's self time excludes this child
        else:
            stack.clear()  # overlaps without nesting (not written by stoker): count it whole
        totals[name] += dur
        stack.append([end, name])
    return {name: us / 1e6 for name, us in totals.items()}


def read_trace(path):
    """[(thread name, {span name: self seconds}, {span name: category})] per thread track, by tid."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise ReportError(f"{path}: cannot read ({e.strerror})") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise ReportError(f"{path}: not a JSON trace ({e})") from None
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise ReportError(f"{path}: no \"traceEvents\" list; expected the Chrome trace of `stoker train --trace`")

    names, spans, cats = {}, defaultdict(list), {}
    for i, e in enumerate(events):
        if not isinstance(e, dict):
            raise ReportError(f"{path}: traceEvents[{i}] is not an object")
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[e.get("tid")] = str((e.get("args") or {}).get("name", e.get("tid")))
        elif e.get("ph") == "X":
            ts, dur = e.get("ts"), e.get("dur")
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (ts, dur)) or dur < 0:
                raise ReportError(f"{path}: traceEvents[{i}] ({e.get('name')!r}): ts and dur must be numbers, dur >= 0")
            name = str(e.get("name", "?"))
            spans[e.get("tid")].append((float(ts), float(dur), name))
            cats.setdefault(name, str(e.get("cat", "")))
    if not spans:
        raise ReportError(f"{path}: no spans (\"ph\": \"X\" events) in the trace")
    by_tid = lambda kv: (0, kv[0], "") if isinstance(kv[0], int) else (1, 0, str(kv[0]))  # stoker's tids: ints
    return [(names.get(tid, f"thread {tid}"), _self_times(s), cats) for tid, s in sorted(spans.items(), key=by_tid)]
