"""The exercise contract: (a) every check passes the teacher's solution, (b) the student notebooks
run end to end with every check "not done", (c) every check rejects plausible wrong answers
(tests/exercise_mutants.py) and names the known mistake, (d) the committed student notebooks
are what `exercises build` makes. And grading a class: all right, partly right, crashing."""

import ast
import csv
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from tests.exercise_mutants import MUTANTS
from tinytransformer.commands.exercises import main as exercises_main
from tinytransformer.commands.grade import main as grade_main
from tinytransformer.exercises import EXERCISES, check
from tinytransformer.exercises.checking import GRADE_LOG
from tinytransformer.exercises.grading import NotebookGrade, grade_notebook, grades_table
from tinytransformer.exercises.notebooks import (
    BEGIN,
    exercises_in,
    notebook_text,
    read_notebook,
    stale_students,
    strip_solutions,
    student_path,
    teacher_notebooks,
)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHECK_CALL = re.compile(r"""check\(\s*["']([\d.]+)["']\s*,\s*(\w+)\s*\)""")


def teachers_solutions():
    """exercise id -> the teacher's function, taken from the notebooks' solution cells (each
    run with the imports of the cells before it, as the notebook runs it)."""
    found = {}
    for path in teacher_notebooks(NOTEBOOKS):
        nb = nbformat.read(path, as_version=4)
        namespace = {}
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            source = "\n".join(  # IPython's %magic and !shell lines are not Python
                line
                for line in cell.source.splitlines()
                if not line.lstrip().startswith(("%", "!"))
            )
            tree = ast.parse(source)
            imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
            exec(compile(ast.Module(imports, []), f"{path.name} imports", "exec"), namespace)
            if BEGIN in source:
                exec(compile(source, f"{path.name}, code cell {i}", "exec"), namespace)
            for exercise_id, name in CHECK_CALL.findall(cell.source):
                found[exercise_id] = namespace[name]
    return found


SOLUTIONS = teachers_solutions()


# --- (a) the teacher's solutions pass -------------------------------------------------------------


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_each_check_passes_the_teachers_solution(exercise_id):
    assert exercise_id in SOLUTIONS, f"no teacher notebook checks exercise {exercise_id}"
    result = check(exercise_id, SOLUTIONS[exercise_id])
    assert result.status == "passed", result.message
    assert result.passed and result.message.startswith(f"PASS {exercise_id}")


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_the_librarys_reference_passes_its_own_check(exercise_id):
    ex = EXERCISES[exercise_id]
    result = check(exercise_id, ex.reference)
    assert result.passed, result.message
    if ex.numerical is not None:  # a backward pass: also checked against finite differences
        assert "against finite differences" in result.message


# --- (b) the student notebooks run, every check "not done" ----------------------------------------


@pytest.mark.parametrize("teacher", teacher_notebooks(NOTEBOOKS), ids=lambda p: p.name)
def test_the_student_notebook_runs_with_every_check_not_done(teacher):
    expected = exercises_in(nbformat.read(teacher, as_version=4))
    grade = grade_notebook(student_path(teacher), timeout=300)
    assert grade.problem == ""
    assert list(grade.statuses) == expected
    assert set(grade.statuses.values()) <= {"not done"}, grade.statuses


# --- (c) wrong answers are rejected, and known mistakes named -------------------------------------


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_each_check_rejects_plausible_wrong_answers(exercise_id):
    mutants = MUTANTS[exercise_id]
    assert len(mutants) >= 2
    for wrong, mistake in mutants:
        result = check(exercise_id, wrong)
        # rejected: a wrong number ("failed"), or a crash on an edge case ("error")
        assert result.status in ("failed", "error"), f"{wrong.__name__}: {result.message}"
        assert not result.passed
        if mistake is not None:
            assert result.status == "failed", result.message
            named = result.message.partition("known mistake: ")[2].split(".")[0]
            assert mistake in named, (wrong.__name__, result.message)


def test_every_known_mistake_is_rejected_and_named():
    for ex in EXERCISES.values():
        for mistake in ex.mistakes:
            result = check(ex.id, mistake.answer)
            assert result.status == "failed", (ex.id, mistake.name)
            assert f"known mistake: {mistake.name}" in result.message, (ex.id, result.message)


# --- (d) the committed student notebooks are current ----------------------------------------------


def test_the_committed_student_notebooks_equal_fresh_builds():
    assert teacher_notebooks(NOTEBOOKS), "no teacher notebooks found"
    assert stale_students(NOTEBOOKS) == []


def test_the_student_copy_keeps_signature_and_docstring_and_drops_the_solution():
    cell = 'def f(x):\n    """x (N,) -> (N,)."""\n    ### BEGIN SOLUTION\n    y = 2 * x\n'
    cell += "    return y\n    ### END SOLUTION\n\ncheck('4.1.1', f)"
    stub = strip_solutions(cell)
    assert stub == (
        'def f(x):\n    """x (N,) -> (N,)."""\n    raise NotImplementedError  # your code here\n'
        "\ncheck('4.1.1', f)"
    )
    with pytest.raises(ValueError, match="without an ### END SOLUTION"):
        strip_solutions("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="line 2: ### END SOLUTION without"):
        strip_solutions("x = 1\n### END SOLUTION")


def test_exercises_build_check_reports_a_stale_copy(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n"
                                          "    ### END SOLUTION")]  # fmt: skip
    nbformat.write(nb, tmp_path / "9.9-demo.ipynb")
    with pytest.raises(SystemExit):  # no student copy yet
        exercises_main(["build", "--check", "--notebooks", str(tmp_path)])
    exercises_main(["build", "--notebooks", str(tmp_path)])
    exercises_main(["build", "--check", "--notebooks", str(tmp_path)])
    built = (tmp_path / "student" / "9.9-demo.ipynb").read_text()
    assert "raise NotImplementedError" in built and "return x" not in built
    assert "current" in capsys.readouterr().out


def test_notebooks_are_read_and_written_as_nbformat_reads_and_writes_them(tmp_path):
    """The package reads and writes notebooks with json alone: a notebook nbformat wrote (sources
    stored as lists of lines, non-ASCII text, an empty cell) reads as nbformat reads it, and is
    written back as the same text; a file that is not a notebook is a ValueError naming it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 注意力\n\nsoftmax(q k^T / √d) v"),
        nbformat.v4.new_code_cell("x = 1\nprint(x)\n"),
        nbformat.v4.new_code_cell(""),
    ]
    for i, cell in enumerate(nb.cells):
        cell.id = str(i)  # (nbformat makes random ids)
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    ours = read_notebook(path)
    assert ours == nbformat.read(path, as_version=4)
    assert ours["cells"][1]["source"] == "x = 1\nprint(x)\n"
    assert notebook_text(ours) == nbformat.writes(nb) + "\n" == path.read_text(encoding="utf-8")
    for text, message in [("{not json", "expected a notebook \\(JSON\\)"),
                          ('{"cells": []}', "expected a version-4 Jupyter notebook"),
                          ('{"nbformat": 4, "cells": [1]}', "expected a version-4")]:  # fmt: skip
        (tmp_path / "bad.ipynb").write_text(text)
        with pytest.raises(ValueError, match=f"bad.ipynb: {message}"):
            read_notebook(tmp_path / "bad.ipynb")
    grade = grade_notebook(tmp_path / "bad.ipynb")
    assert grade.problem.startswith("cannot read the notebook: ") and not grade.statuses


# --- what check() reports -------------------------------------------------------------------------


def test_check_statuses_for_a_stub_a_crash_and_a_non_function():
    def stub(x):
        raise NotImplementedError

    assert check("4.1.1", stub).status == "not done"
    crash = check("4.1.1", lambda x: x[99])
    assert (
        crash.status == "error" and "IndexError" in crash.message and "a row of 5" in crash.message
    )
    assert check("4.1.1", "softmax").status == "error"
    with pytest.raises(KeyError, match="exercise_id: expected one of 4.1.1"):
        check("9.9.9", stub)


def test_a_failure_names_the_case_the_shapes_and_the_error():
    def off_by_a_bit(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) * 1.01

    result = check("4.1.1", off_by_a_bit)
    assert result.status == "failed"
    assert "case 'a row of 5' (x (1, 5))" in result.message
    # the answer is 1% too large everywhere: the largest entry's error relative to the largest
    assert re.search(r"expected [\d.]+, got [\d.]+ at index \(0, \d\); relative error 9\.9e-03",
                     result.message)  # fmt: skip
    assert "Hint:" in result.message and "known mistake" not in result.message


def test_an_answer_of_the_wrong_kind_fails_and_a_wrong_table_names_its_key():
    """Ids instead of a text is a plain FAIL (an array does not compare with == to a text), and
    a table of 256 entries that is wrong at one byte says which."""
    ids = check("5.4", lambda model, tokenizer, prompt, n: np.array([1, 2]))
    assert ids.status == "failed" and "text: expected a str, got ndarray" in ids.message
    table = dict(EXERCISES["5.3"].reference())
    table[200] = "x"
    wrong = check("5.3", lambda: table)
    assert wrong.status == "failed" and "table: at key 200: expected 'È', got 'x'" in wrong.message
    del table[5]
    assert "table: key 5 missing (expected 'ą')" in check("5.3", lambda: table).message


def test_an_answer_that_writes_into_its_input_fails():
    def in_place(x):
        x -= x.max(axis=-1, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis=-1, keepdims=True)
        return x

    result = check("4.1.1", in_place)
    assert result.status == "failed" and "changed its input 'x'" in result.message


def test_results_show_themselves_and_go_to_the_grade_log(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(GRADE_LOG, str(log))
    passed = check("4.2.1", EXERCISES["4.2.1"].reference)
    failed = check("4.2.1", MUTANTS["4.2.1"][0][0])
    assert "#2e7d32" in passed._repr_html_() and "#c62828" in failed._repr_html_()
    assert str(passed) == passed.message
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["status"]) for r in rows] == [
        ("4.2.1", "passed"),
        ("4.2.1", "failed"),
    ]


# --- grading a class ------------------------------------------------------------------------------


def submission(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


SETUP = "from tinytransformer.exercises import check, EXERCISES\nfrom tests import exercise_mutants"
RIGHT_1 = "cross_entropy = EXERCISES['4.2.1'].reference"
RIGHT_2 = "cross_entropy_backward = EXERCISES['4.2.2'].reference"
WRONG_2 = "cross_entropy_backward = exercise_mutants.cross_entropy_backward_summed"
CHECK_1 = "check('4.2.1', cross_entropy)"
CHECK_2 = "check('4.2.2', cross_entropy_backward)"


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    d = tmp_path_factory.mktemp("class")
    (d / "tests").symlink_to(Path(__file__).resolve().parent)  # `from tests import ...` works
    return {
        "right": submission(d / "right.ipynb", [SETUP, RIGHT_1, CHECK_1, RIGHT_2, CHECK_2]),
        "partly": submission(d / "partly.ipynb", [SETUP, RIGHT_1, CHECK_1, WRONG_2, CHECK_2]),
        "crash": submission(
            d / "crash.ipynb", [SETUP, "raise RuntimeError('my bug')", CHECK_1, RIGHT_2, CHECK_2]
        ),  # fmt: skip
        "dies": submission(
            d / "dies.ipynb", [SETUP, RIGHT_1, CHECK_1, "import os\nos._exit(1)", RIGHT_2, CHECK_2]
        ),  # fmt: skip
    }


def test_grading_partly_right_and_crashing(submissions):
    partly = grade_notebook(submissions["partly"], timeout=120)
    assert partly.statuses == {"4.2.1": "passed", "4.2.2": "failed"} and partly.n_passed == 1
    assert "not divided by the number of counted targets" in partly.messages["4.2.2"]
    crash = grade_notebook(submissions["crash"], timeout=120)  # one cell raises, the rest runs
    assert crash.statuses == {"4.2.1": "not run", "4.2.2": "passed"}
    assert "RuntimeError: my bug" in crash.problem and "NameError" not in crash.problem
    dies = grade_notebook(submissions["dies"], timeout=120)  # the kernel dies half way
    assert dies.statuses == {"4.2.1": "passed", "4.2.2": "not run"}
    assert dies.problem.startswith("the run stopped")


def test_a_deleted_check_cell_counts_as_missing_not_as_fewer_exercises():
    whole = NotebookGrade(Path("a.ipynb"), statuses={"4.2.1": "passed", "4.2.2": "passed"})
    short = NotebookGrade(Path("b.ipynb"), statuses={"4.2.1": "passed"})
    header, rows = grades_table([whole, short])
    assert header == ["notebook", "4.2.1", "4.2.2", "passed", "problem"]
    assert rows == [["a.ipynb", "passed", "passed", "2/2", ""],
                    ["b.ipynb", "passed", "missing", "1/2", ""]]  # fmt: skip


def test_a_notebook_that_never_finishes_times_out(tmp_path):
    slow = submission(tmp_path / "slow.ipynb", [SETUP, "import time\ntime.sleep(60)", CHECK_1])
    grade = grade_notebook(slow, timeout=5)
    assert grade.statuses == {"4.2.1": "not run"}
    assert grade.problem == "timed out after 5 s" and grade.seconds < 50


def test_the_timeout_is_for_the_whole_notebook_not_each_cell(tmp_path):
    """Two cells of 3 s each, 5 s allowed: the notebook (6 s) is over its time."""
    two = submission(tmp_path / "two.ipynb",
                     [SETUP, "import time\ntime.sleep(3)", "time.sleep(3)", CHECK_1])  # fmt: skip
    grade = grade_notebook(two, timeout=5)
    assert grade.problem == "timed out after 5 s" and grade.statuses == {"4.2.1": "not run"}


def test_the_grade_command_prints_a_table_and_writes_a_csv(submissions, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    grade_main([str(submissions["right"]), str(submissions["partly"]), "--csv", str(out)])
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["notebook", "4.2.1", "4.2.2", "passed", "problem"]
    assert rows[1][1:4] == ["passed", "passed", "2/2"] and rows[2][1:4] == [
        "passed",
        "failed",
        "1/2",
    ]
    assert "partly.ipynb" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="already exists; pass --overwrite"):
        grade_main([str(submissions["right"]), "--csv", str(out)])
    with pytest.raises(SystemExit, match="NOTEBOOK nope.ipynb: no such file"):
        grade_main(["nope.ipynb", "--csv", str(tmp_path / "other.csv")])
    with pytest.raises(SystemExit, match="^error: --csv .*: the folder .*nowhere does not exist$"):
        grade_main([str(submissions["right"]), "--csv", str(tmp_path / "nowhere" / "g.csv")])
