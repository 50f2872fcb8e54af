"""`python -m tinytransformer exercises {build,list}`: the student notebooks and the catalogue.

exercises build              write notebooks/student/NAME from every teacher notebook: all of
                             them or none, and never over a copy edited since the last build
exercises build --overwrite  the same, replacing edited copies
exercises build --check      fail (exit 1) if a committed student notebook is not current
exercises list               every auto-checked exercise: id, signature, what it asks
exercises hint ID            the formula of an exercise
"""

import argparse
import sys
from pathlib import Path

from tinytransformer.exercises.catalog import EXERCISES
from tinytransformer.exercises.checking import hint
from tinytransformer.exercises.notebooks import BuildConflict, build_students, stale_students


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m tinytransformer exercises",
        description="Build the student notebooks, or list the exercises.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,  # --help shows every default
    )
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="write notebooks/student/ from the teacher notebooks")
    build.add_argument("--notebooks", default="notebooks", help="the folder of teacher notebooks")
    build.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a student notebook is missing or stale",
    )
    build.add_argument(
        "--overwrite",
        action="store_true",
        help="replace student copies edited since the last build",
    )
    sub.add_parser("list", help="list every auto-checked exercise")
    hints = sub.add_parser("hint", help="the formula of an exercise")
    hints.add_argument("id", metavar="ID", help="an exercise id, such as 4.1.3")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.action == "list":
        for ex in EXERCISES.values():
            print(f"{ex.id:7s} {ex.signature:45s} {ex.title}")
        return
    if args.action == "hint":
        if args.id not in EXERCISES:
            sys.exit(f"error: ID: expected one of {', '.join(EXERCISES)}, got {args.id!r}")
        print(hint(args.id))
        return
    folder = Path(args.notebooks)
    if not folder.is_dir():
        sys.exit(f"error: --notebooks {folder}: expected a folder of notebooks, found none")
    try:
        if args.check:
            stale = stale_students(folder)
            for path in stale:
                print(f"stale: {path} (run `python -m tinytransformer exercises build`)")
            if stale:
                sys.exit(1)
            print(f"student notebooks in {folder / 'student'} are current")
            return
        for path in build_students(folder, overwrite=args.overwrite):
            print(f"wrote {path}")
    except (ValueError, BuildConflict) as e:  # a BEGIN SOLUTION without its END; an edited copy
        sys.exit(f"error: {e}")
