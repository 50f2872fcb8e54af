"""`python -m tinytransformer grade NOTEBOOK...`: run each submitted notebook in its own process,
print a table of every exercise's status, and write it as a CSV (notebook x exercise)."""

import argparse
import csv
import io
import sys
from pathlib import Path

from tinytransformer.commands.args import positive_int
from tinytransformer.exercises.grading import grade_notebook, grades_table
from tinytransformer.files import describe_os_error, write_atomic


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m tinytransformer grade",
        description="Execute submitted notebooks, each in its own process, and tabulate the "
        "status of every exercise they check.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # --help shows every default
    )
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="submitted .ipynb files")
    p.add_argument("--csv", default="grades.csv", help="where to write the table")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    p.add_argument("--timeout", type=positive_int, default=600,
                   help="seconds allowed for each notebook, all its cells together")  # fmt: skip
    p.add_argument("--full", action="store_true",
                   help="run the notebooks' full-size training (without it: "
                   "TINYTRANSFORMER_FAST=1)")  # fmt: skip
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    out = Path(args.csv)
    if out.exists() and not args.overwrite:
        sys.exit(f"error: --csv {out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():  # checked now, not after every notebook has run
        sys.exit(f"error: --csv {out}: the folder {out.parent} does not exist")
    missing = [n for n in args.notebooks if not Path(n).is_file()]
    if missing:
        sys.exit(f"error: NOTEBOOK {missing[0]}: no such file")
    grades = []
    for i, name in enumerate(args.notebooks, 1):
        print(f"[{i}/{len(args.notebooks)}] {name} ...", flush=True)
        grades.append(grade_notebook(name, timeout=args.timeout, fast=not args.full))
    header, rows = grades_table(grades)
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header) - 1)]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)) + "  " + str(row[-1]))
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    try:
        write_atomic(out, text.getvalue().encode("utf-8"))
    except OSError as e:  # the table is printed above, so no grading is lost
        sys.exit("error: " + describe_os_error(e, f"--csv {out}"))
    print(f"wrote {out}")
