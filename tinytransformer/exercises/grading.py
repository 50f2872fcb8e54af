"""Grading a class: run each submitted notebook in its own process and collect the status of
every exercise it checks.

    grades = [grade_notebook(path, timeout=600) for path in submissions]
    grades_table(grades) -> rows of (notebook, {exercise id: status}, problem)

A notebook runs with `jupyter nbconvert --execute` in a fresh kernel, cells that raise do not
stop it (a crash in one exercise leaves the others graded), and every `check(...)` it calls
appends its result to a log file the grader reads back (checking.GRADE_LOG). An exercise the
notebook checks but never reached (the kernel died, the run timed out, or its cell raised
before `check` ran) is "not run". No server, no database: files in, a table out.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinytransformer.exercises.checking import GRADE_LOG
from tinytransformer.exercises.notebooks import exercises_in, read_notebook


@dataclass
class NotebookGrade:
    """The outcome of one notebook: each exercise's status ("passed", "failed", "not done",
    "error", "not run"), its messages, and what went wrong with the run itself, if anything."""

    path: Path
    statuses: dict = field(default_factory=dict)
    messages: dict = field(default_factory=dict)
    problem: str = ""
    seconds: float = 0.0

    @property
    def n_passed(self):
        return sum(s == "passed" for s in self.statuses.values())


def grade_notebook(path, timeout=600, fast=True):
    """Execute one notebook in its own process -> NotebookGrade.

    timeout: seconds for the whole notebook; fast: run with TINYTRANSFORMER_FAST=1 (the
    notebook's training sizes shrink; the exercises are the same).
    """
    path = Path(path)
    try:
        expected = exercises_in(read_notebook(path))
    except (OSError, ValueError) as e:  # not a file, not JSON, not a notebook
        return NotebookGrade(path, problem=f"cannot read the notebook: {e}")
    grade = NotebookGrade(path, statuses=dict.fromkeys(expected, "not run"))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "checks.jsonl"
        env = {**os.environ, GRADE_LOG: str(log)}
        if fast:
            env["TINYTRANSFORMER_FAST"] = "1"
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                   "--ExecutePreprocessor.allow_errors=True",
                   f"--ExecutePreprocessor.timeout={int(timeout)}",
                   "--output-dir", tmp, "--output", "executed.ipynb",
                   str(path.resolve())]  # fmt: skip
        start = time.perf_counter()
        try:
            run = subprocess.run(command, cwd=path.resolve().parent, env=env,
                                 capture_output=True, text=True, timeout=timeout + 60)  # fmt: skip
            if run.returncode != 0:
                last = (run.stderr.strip().splitlines() or ["(no message)"])[-1]
                grade.problem = f"the run stopped: {last}"
            else:
                grade.problem = _errors(Path(tmp) / "executed.ipynb")
        except subprocess.TimeoutExpired:
            grade.problem = f"timed out after {timeout} s"
        grade.seconds = time.perf_counter() - start
        if log.is_file():
            for line in log.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                grade.statuses[row["exercise"]] = row["status"]
                grade.messages[row["exercise"]] = row["message"]
    return grade


def _errors(executed):
    """'2 cells raised errors (first: NameError: ...)' for an executed notebook, or ''."""
    nb = read_notebook(executed)
    errors = [o for c in nb["cells"] if c["cell_type"] == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]  # fmt: skip
    if not errors:
        return ""
    first = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
    return f"{len(errors)} cell(s) raised errors (first: {first})"


def grades_table(grades):
    """-> (header, rows): one row per notebook, a column per exercise (in the order first met),
    then the number passed and the run's problem. Plain lists, for printing or a CSV."""
    ids = []
    for g in grades:
        ids += [i for i in g.statuses if i not in ids]
    header = ["notebook", *ids, "passed", "problem"]
    rows = [
        [
            str(g.path),
            *(g.statuses.get(i, "-") for i in ids),
            f"{g.n_passed}/{len(g.statuses)}",
            g.problem,
        ]  # fmt: skip
        for g in grades
    ]
    return header, rows
