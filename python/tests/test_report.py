"""python -m stoker.report on the log and trace of real `stoker train` runs (the CLI binary of a
CMake build: $STOKER_BIN, else the newest build/*/cli/stoker of this tree, else `stoker` on PATH;
skipped when there is none), and its errors on bad input."""
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _stoker_bin():
    if os.environ.get("STOKER_BIN"):
        return os.environ["STOKER_BIN"]
    built = glob.glob(os.path.join(REPO, "build", "*", "cli", "stoker"))
    if built:
        return max(built, key=os.path.getmtime)
    return shutil.which("stoker")


@pytest.fixture(scope="module")
def stoker_bin():
    path = _stoker_bin()
    if not path or not os.access(path, os.X_OK):
        pytest.skip("no stoker CLI binary (build the `stoker` target or set STOKER_BIN)")
    return path


def _report(*args, cwd):
    return subprocess.run([sys.executable, "-m", "stoker.report", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def _png_size(path):
    """(width, height) from the IHDR of a PNG, after checking the signature; Pillow decodes it all."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", head
    Image = pytest.importorskip("PIL.Image")
    with Image.open(path) as im:
        im.load()  # decodes every row: a truncated or corrupt PNG raises here
        assert im.size == struct.unpack(">II", head[16:24])
    return im.size


def test_report_of_a_real_run(tmp_path, stoker_bin):
    pytest.importorskip("matplotlib")
    from stoker import report
    from stoker._report_data import read_log, read_trace
    run = lambda *a: subprocess.run([stoker_bin, *a], cwd=tmp_path, check=True, capture_output=True,
                                    text=True, timeout=300)
    run("make-dataset", "d.h5", "--n", "2000", "--size", "16x16", "--classes", "4", "--threads", "1")
    run("train", "--data", "d.h5", "--val-images", "/test/images", "--val-labels", "/test/labels",
        "--epochs", "3", "--batch", "64", "--threads", "2", "--device", "cpu", "--progress", "line",
        "--log", "run.jsonl", "--trace", "trace.json")

    # Every figure the report draws is in the log under the keys it reads (a renamed key in
    # cli/json_report.cc would leave a panel empty: NaN here).
    log = read_log(str(tmp_path / "run.jsonl"))
    assert log["epoch"] == [1, 2, 3]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "samples_per_s", "stall_pct"):
        assert all(v == v for v in log[key]), (key, log[key])
    threads = {name: times for name, times, _ in read_trace(str(tmp_path / "trace.json"))}
    assert threads["main (training)"]["train step"] > 0, threads

    out = _report("run.jsonl", "trace.json", "-o", "with_trace.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert _png_size(tmp_path / "with_trace.png") == tuple(d * report.DPI for d in report.SIZE_WITH_TRACE)
    out = _report("run.jsonl", "-o", "log_only.png", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert _png_size(tmp_path / "log_only.png") == tuple(d * report.DPI for d in report.SIZE)


def test_resumed_log_counts_the_last_line_of_an_epoch(tmp_path, stoker_bin):
    """Ctrl-C mid-run logs the cut epoch ("stopped": true) and --resume logs it again in full."""
    pytest.importorskip("matplotlib")
    from stoker._report_data import read_log
    subprocess.run([stoker_bin, "make-dataset", "d.h5", "--n", "20000", "--size", "16x16", "--classes", "4",
                    "--threads", "1"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    train = [stoker_bin, "train", "--data", "d.h5", "--epochs", "3", "--batch", "64", "--threads", "2",
             "--device", "cpu", "--progress", "line", "--log", "run.jsonl"]
    log = tmp_path / "run.jsonl"
    p = subprocess.Popen(train + ["--checkpoint", "c.ckpt"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and log.read_text().endswith("\n")) and p.poll() is None:
            assert time.monotonic() < deadline, "no epoch line in 120 s"
            time.sleep(0.005)  # polls for epoch 1's line; the interrupt must land in epoch 2 or 3
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=120) == 130, "the run ended before the interrupt: it must take > 1 epoch"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    subprocess.run(train + ["--resume", "c.ckpt"], cwd=tmp_path, check=True, capture_output=True, timeout=300)

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    epochs = [line["epoch"] for line in lines]
    assert len(epochs) == 4 and sorted(set(epochs)) == [1, 2, 3], epochs
    cut = [line for line in lines if line["stopped"]]
    assert len(cut) == 1, lines
    last = {line["epoch"]: line for line in lines}  # the resumed epoch's line comes after the cut one
    assert last[cut[0]["epoch"]]["stopped"] is False
    got = read_log(str(log))
    assert got["epoch"] == [1, 2, 3]
    assert got["loss"] == [last[e]["loss"] for e in (1, 2, 3)]
    assert got["samples_per_s"] == [last[e]["samples_per_s"] for e in (1, 2, 3)]


def test_self_time_of_nested_spans(tmp_path):
    """A wait nested in a batch span counts once: the batch's self time excludes it."""
    from stoker._report_data import read_trace
    events = [{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "prefetch"}},
              {"ph": "X", "cat": "batch", "name": "batch", "pid": 1, "tid": 1, "ts": 0.0, "dur": 10.0},
              {"ph": "X", "cat": "wait", "name": "wait: memory", "pid": 1, "tid": 1, "ts": 2.0, "dur": 3.0},
              {"ph": "X", "cat": "batch", "name": "batch", "pid": 1, "tid": 1, "ts": 10.0, "dur": 4.0},
              {"ph": "X", "cat": "step", "name": "train step", "pid": 1, "tid": 2, "ts": 1.0, "dur": 5.0}]
    (tmp_path / "t.json").write_text(json.dumps({"traceEvents": events}))
    threads = read_trace(str(tmp_path / "t.json"))
    # Microseconds: the sums (10 - 3 + 4 = 11) are small integers, exact in a double, and the
    # division by 1e6 is correctly rounded, so it gives the double nearest 11e-6, as the literal does.
    assert [(name, times) for name, times, _ in threads] == [
        ("prefetch", {"batch": 11e-6, "wait: memory": 3e-6}), ("thread 2", {"train step": 5e-6})]


@pytest.mark.parametrize("name,content,message", [
    ("run.jsonl", '{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "loss": 0.4\n', "run.jsonl line 2: not a JSON object"),
    ("run.jsonl", "", "run.jsonl: empty log (no epoch lines)"),
    ("run.jsonl", "\n  \n", "run.jsonl: empty log (no epoch lines)"),
    ("run.jsonl", '{"epoch": 1}\n[1, 2]\n', "run.jsonl line 2: not a JSON object (a list)"),
    ("run.jsonl", '{"steps": 10, "loss": 1.0}\n', 'run.jsonl line 1: no "epoch"'),
    ("run.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00", "run.jsonl: not text"),
    ("run.jsonl", '{"epoch": 1}\n' + " " * (1 << 21), "run.jsonl line 2: longer than 1048576 characters"),
    ("missing.jsonl", None, "missing.jsonl: cannot read (No such file or directory)"),
], ids=["not-json", "empty", "blank", "list", "no-epoch", "binary", "long-line", "missing"])
def test_bad_log(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    out = _report(name, "-o", "r.png", cwd=tmp_path)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r.png").exists()  # nothing written on a bad input


@pytest.mark.parametrize("content,message", [
    ('{"traceEvents": [', "trace.json: not a JSON trace"),
    ('{"events": []}', 'trace.json: no "traceEvents" list'),
    ('{"traceEvents": [{"ph": "M", "name": "thread_name", "tid": 1}]}', "trace.json: no spans"),
    ('{"traceEvents": [{"ph": "X", "name": "step", "tid": 1, "ts": 0, "dur": -1}]}',
     "trace.json: traceEvents[0] ('step'): ts and dur must be numbers, dur >= 0"),
])
def test_bad_trace(tmp_path, content, message):
    (tmp_path / "run.jsonl").write_text('{"epoch": 1, "loss": 0.5}\n')
    (tmp_path / "trace.json").write_text(content)
    out = _report("run.jsonl", "trace.json", "-o", "r.png", cwd=tmp_path)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert message in out.stderr, out.stderr
    assert not (tmp_path / "r.png").exists()


def test_import_stoker_does_not_import_matplotlib():
    out = subprocess.run([sys.executable, "-c", "import sys, stoker; print('matplotlib' in sys.modules)"],
                         capture_output=True, text=True, timeout=60, cwd=os.path.dirname(__file__))
    assert out.stdout.strip() == "False", out
