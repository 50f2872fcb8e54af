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
import re
import signal
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
        # no per-cell limit: `timeout` is for the whole notebook, enforced on the process group
        # (nbconvert and the kernel it starts), so a timed-out kernel does not live on
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                   "--ExecutePreprocessor.allow_errors=True", "--ExecutePreprocessor.timeout=-1",
                   "--output-dir", tmp, "--output", "executed.ipynb",
                   str(path.resolve())]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=path.resolve().parent, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)  # fmt: skip
        try:
            _, stderr = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                grade.problem = f"the run stopped: {_last_error(stderr)}"
            else:
                grade.problem = _errors(Path(tmp) / "executed.ipynb")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            grade.problem = f"timed out after {timeout} s"
        grade.seconds = time.perf_counter() - start
        if log.is_file():
            for line in log.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                grade.statuses[row["exercise"]] = row["status"]
                grade.messages[row["exercise"]] = row["message"]
    return grade


def _last_error(stderr):
    """The line of nbconvert's stderr that names what stopped it (an exception's 'Name: text'
    line, or the last line that is not a rule of dashes)."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip().strip("-")]
    named = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b", ln)]
    return (named or lines or ["(no message)"])[-1]


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
    then the number passed and the run's problem. Plain lists, for printing or a CSV. An
    exercise a notebook does not check at all (its check cell deleted) is "missing", and every
    notebook is counted out of all the class's exercises."""
    ids = []
    for g in grades:
        ids += [i for i in g.statuses if i not in ids]
    header = ["notebook", *ids, "passed", "problem"]
    rows = [
        [
            str(g.path),
            *(g.statuses.get(i, "missing") for i in ids),
            f"{g.n_passed}/{len(ids)}",
            g.problem,
        ]  # fmt: skip
        for g in grades
    ]
    return header, rows
