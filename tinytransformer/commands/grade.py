"""`python -m tinytransformer grade NOTEBOOK... --csv F`: grade a class. Each notebook runs in a
sandbox of its own, and its grade is decided outside it (exercises/grading.py); the table is
printed and written as two CSVs, rewritten after every notebook so that a grade already given
is never lost: F (notebook x exercise, with the number passed, the cases' seed and the run's
problem) and F's .messages.csv (each exercise's message). --keep DIR keeps every executed
notebook, with its grade appended, for audit."""

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from tinytransformer.commands.args import positive_int, whole_number
from tinytransformer.exercises.grading import (
    MEMORY,
    grade_class,
    grades_table,
    messages_table,
    spreadsheet_safe,
)
from tinytransformer.files import describe_os_error, write_atomic


def gibibytes(text):
    """An argparse type for --memory: a positive number of GiB."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of GiB, got {text}")
    return value


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m tinytransformer grade",
        description="Run submitted notebooks, each in a sandbox of its own, and grade every "
        "exercise of their chapters outside them.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # --help shows every default
    )
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="submitted .ipynb files")
    p.add_argument("--csv", default="grades.csv", help="where to write the table")
    p.add_argument(
        "--messages",
        default=None,
        help="where to write each exercise's message (default: "
        "the --csv file's name with .messages.csv)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument(
        "--timeout",
        type=positive_int,
        default=600,
        help="seconds for each notebook's cells, all together (its answers then get a quarter "
        "of that, 20 to 120 s)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="run the notebooks' full-size training (without it: TINYTRANSFORMER_FAST=1)",
    )
    p.add_argument("--keep", metavar="DIR", help="keep every executed notebook in DIR")
    p.add_argument(
        "--memory",
        type=gibibytes,
        default=MEMORY / (1 << 30),
        help="GiB of address space for each process of a notebook",
    )
    p.add_argument(
        "--seed",
        type=whole_number(0),
        default=None,
        help="the seed of every notebook's random "
        "cases (default: a fresh one for each, written in the table)",
    )
    return p


def check_outputs(args):
    """Every output path is checked before any notebook runs -> [csv, messages, keep]."""
    out = Path(args.csv)
    messages = Path(args.messages) if args.messages else out.with_suffix(".messages.csv")
    for flag, path in (("--csv", out), ("--messages", messages)):
        if path.exists() and not args.overwrite:
            sys.exit(f"error: {flag} {path} already exists; pass --overwrite to replace it")
        if not path.parent.is_dir():
            sys.exit(f"error: {flag} {path}: the folder {path.parent} does not exist")
    keep = Path(args.keep) if args.keep else None
    if keep is not None:
        if keep.exists() and not keep.is_dir():
            sys.exit(f"error: --keep {keep}: expected a folder, got a file")
        if keep.is_dir() and any(keep.iterdir()) and not args.overwrite:
            sys.exit(f"error: --keep {keep} is not empty; pass --overwrite to write into it")
        if not keep.parent.is_dir():
            sys.exit(f"error: --keep {keep}: the folder {keep.parent} does not exist")
    missing = [n for n in args.notebooks if not Path(n).is_file()]
    if missing:
        sys.exit(f"error: NOTEBOOK {missing[0]}: no such file")
    return out, messages, keep


def csv_text(rows):
    text = io.StringIO()
    csv.writer(text).writerows([[spreadsheet_safe(c) for c in row] for row in rows])
    return text.getvalue().encode("utf-8")


def write_tables(grades, out, messages):
    header, rows = grades_table(grades)
    for flag, path, table in (
        ("--csv", out, [header, *rows]),
        ("--messages", messages, messages_table(grades)),
    ):
        try:
            write_atomic(path, csv_text(table))
        except OSError as e:  # the table is printed at the end, so no grading is lost
            sys.exit("error: " + describe_os_error(e, f"{flag} {path}"))


def kept_notebook(grade):
    """The executed notebook with a last cell holding its grade (or a stub if it never ran)."""
    try:
        nb = json.loads(grade.executed)
    except ValueError:
        nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}
    lines = [f"**Graded** (cases' seed {grade.seed}): {grade.n_passed}/{len(grade.statuses)}"]
    if grade.problem:
        lines.append(f"\nProblem: {grade.problem}")
    for i, status in grade.statuses.items():
        lines.append(f"\n- {i} **{status}**\n\n```\n{grade.messages.get(i, '')}\n```")
    nb.setdefault("cells", []).append(
        {"cell_type": "markdown", "metadata": {}, "source": "\n".join(lines)}
    )
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def keep_notebooks(grades, keep):
    keep.mkdir(exist_ok=True)
    names = [g.path.name for g in grades]
    for i, grade in enumerate(grades):
        name = (
            grade.path.name if names.count(grade.path.name) == 1 else f"{i:03d}-{grade.path.name}"
        )
        try:
            write_atomic(keep / name, kept_notebook(grade).encode("utf-8"))
        except OSError as e:
            sys.exit("error: " + describe_os_error(e, f"--keep {keep / name}"))


def main(argv=None):
    args = build_parser().parse_args(argv)
    out, messages, keep = check_outputs(args)
    grades = []

    def graded(grade):
        grades.append(grade)
        passed = f"{grade.n_passed}/{len(grade.statuses)}"
        print(
            f"[{len(grades)}/{len(args.notebooks)}] {grade.path}: {passed} in "
            f"{grade.seconds:.1f} s",
            flush=True,
        )
        write_tables(grades, out, messages)

    grade_class(
        args.notebooks,
        timeout=args.timeout,
        fast=not args.full,
        memory=int(args.memory * (1 << 30)),
        seed=args.seed,
        on_grade=graded,
    )
    header, rows = grades_table(grades)
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + str(row[-1]))
    if keep is not None:
        keep_notebooks(grades, keep)
        print(f"kept the executed notebooks in {keep}")
    print(f"wrote {out} and {messages}")
