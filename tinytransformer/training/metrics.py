"""A run's metrics.jsonl: one JSON row per evaluation, appended as the run goes.

    {"step": 250, "train_loss": 1.91, "val_loss": 1.98, "lr": 0.00097, ...}

Rows are appended and flushed one at a time, so a crash loses no row that was written; it can
leave a torn last line (the process died, or the disk filled, in the middle of a write). Reading
for a resume drops such a torn tail and says so; a bad line anywhere else is an error naming
the file and the line, since no crash makes one.
"""

import json
from pathlib import Path

from tinytransformer.files import write_atomic


class MetricsError(ValueError):
    """A metrics file with a line that is not a metrics row; the message names file and line."""


def parse_row(raw, path, number):
    """One line (bytes) of a metrics file -> its row, or MetricsError naming file and line."""
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise MetricsError(f"{path}, line {number}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise MetricsError(f"{path}, line {number}: not a JSON row ({e.msg})") from None
    ok = isinstance(row, dict) and type(row.get("step")) is int
    ok = ok and all(type(row.get(k)) in (int, float) for k in ("train_loss", "val_loss"))
    if not ok:
        raise MetricsError(
            f"{path}, line {number}: expected a row with an integer step and numbers train_loss "
            "and val_loss"
        )
    return row


def read_metrics(path, allow_torn_tail=False):
    """The rows of a metrics file, one dict per evaluation.

    allow_torn_tail: a last line that has no newline and is not a row (what a write cut short
    leaves) is dropped instead of being an error. Returns (rows, torn), torn being the number
    of bytes dropped (0 when nothing was); without allow_torn_tail, just the rows.
    """
    data = Path(path).read_bytes()
    lines = data.split(b"\n")  # the last item is what follows the last newline: b"" if none
    rows, torn = [], 0
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            rows.append(parse_row(raw, path, number))
        except MetricsError:
            if not (allow_torn_tail and number == len(lines)):  # only the unfinished last line
                raise
            torn = len(raw)
    return (rows, torn) if allow_torn_tail else rows


def append_row(path, row):
    """Append one row and flush it, so that a crash afterwards loses nothing of it. An OSError
    (the disk filled up mid-row) names the file."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
    except OSError as e:
        e.filename = e.filename or str(path)
        raise


def rewrite_rows(path, rows):
    """Replace the file by these rows, atomically (a resumed run drops the rows it will log
    again)."""
    write_atomic(path, "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8"))
