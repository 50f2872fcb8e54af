"""Grading a class, beyond the attacks (tests/test_attacks.py): the grade command's table, CSVs
and kept notebooks; runs that time out, die, raise, print too much or outgrow their limits; and
the grader's own parts checked without a notebook (the wire, the sandbox's bound names, the
replies it accepts). Small synthetic notebooks, graded in as few runs as possible."""

import csv
import dis
import json
import os
import types
from pathlib import Path

import numpy as np
import pytest

from tests.test_attacks import CHECKS, RIGHT_1, RIGHT_2, SETUP, write_notebook
from tinytransformer.commands.exercises import main as exercises_main
from tinytransformer.commands.grade import main as grade_main
from tinytransformer.exercises import grading, monitor, sandbox, wire
from tinytransformer.exercises.grading import (
    Limits,
    NotebookGrade,
    answers,
    chapters_of,
    grade_class,
    grades_table,
    messages_table,
    spreadsheet_safe,
)
from tinytransformer.exercises.wire import CODEC, WireError

WRONG_2 = """def cross_entropy_backward(logits, targets):
    return np.zeros_like(logits)"""
CHECK_1, CHECK_2 = CHECKS
submission = write_notebook


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One batch of ordinary troubles, one of outgrown limits."""
    d = tmp_path_factory.mktemp("class")
    ordinary = {
        "right": [SETUP, RIGHT_1, CHECK_1, RIGHT_2, CHECK_2],
        "partly": [SETUP, RIGHT_1, CHECK_1, WRONG_2, CHECK_2],
        "crash": [SETUP, "raise RuntimeError('my bug')", RIGHT_1, CHECK_1, RIGHT_2, CHECK_2],
        "dies": [SETUP, RIGHT_1, CHECK_1, "import os\nos._exit(1)", RIGHT_2, CHECK_2],
        "slow": [SETUP, RIGHT_1, CHECK_1, "import time\ntime.sleep(60)", RIGHT_2, CHECK_2],
        "two-slow-cells": [SETUP, RIGHT_1, "import time\ntime.sleep(3)", "time.sleep(3)", RIGHT_2],
        "flood": [SETUP, "for _ in range(300):\n    print('x' * 100_000)", RIGHT_1, RIGHT_2],
        "tamper-staged": [
            SETUP,
            RIGHT_1,
            RIGHT_2,
            """import glob, json, os
for p in glob.glob("/tmp/tinytransformer-grade-*/submissions/*"):  # every staged copy
    os.chmod(p, 0o600)
    json.dump({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}, open(p, "w"))""",
        ],
        "after-tamper": [SETUP, RIGHT_1, CHECK_1, RIGHT_2, CHECK_2],
        "no-exercise": ["x = 1"],
    }
    paths = {k: submission(d / f"4.2-{k}.ipynb", c) for k, c in ordinary.items()}
    paths["no-exercise"] = submission(d / "notes.ipynb", ordinary["no-exercise"])
    order = list(ordinary)
    grades = grade_class([paths[k] for k in order], limits=Limits(timeout=5, answers=10))
    limited = {
        "memory": [SETUP, RIGHT_1, "big = np.ones(2**29)  # 4 GiB", RIGHT_2],
        "file": [SETUP, RIGHT_1, "open('big.bin', 'wb').write(b'0' * (64 << 20))", RIGHT_2],
    }
    lpaths = [submission(d / f"4.2-{k}.ipynb", c) for k, c in limited.items()]
    tight = Limits(timeout=60, answers=10, memory=2 << 30, file_size=16 << 20, output=1 << 20)
    limit_grades = grade_class(lpaths, limits=tight)
    return {**dict(zip(order, grades)), **dict(zip(limited, limit_grades))}, d


def test_grading_right_partly_right_and_crashing(runs):
    g = runs[0]
    assert (
        g["right"].statuses == {"4.2.1": "passed", "4.2.2": "passed"} and g["right"].problem == ""
    )
    partly = g["partly"]
    assert partly.statuses == {"4.2.1": "passed", "4.2.2": "failed"} and partly.n_passed == 1
    assert "FAIL 4.2.2" in partly.messages["4.2.2"]
    crash = g["crash"]  # one cell raises, the rest runs: both exercises graded
    assert crash.statuses == {"4.2.1": "passed", "4.2.2": "passed"}
    assert crash.problem == "1 cell(s) raised errors (first: RuntimeError: my bug)"
    dies = g["dies"]  # the kernel dies half way: nothing can be asked
    assert dies.statuses == {"4.2.1": "not run", "4.2.2": "not run"}
    assert dies.problem.startswith("the kernel died in cell 4")


def test_a_notebook_that_runs_out_of_time_is_still_asked_what_it_defined(runs):
    slow = runs[0]["slow"]
    assert slow.problem == "timed out after 5 s (in cell 4)"
    assert slow.statuses["4.2.1"] == "passed"  # defined before the slow cell
    assert slow.statuses["4.2.2"] == "not run" and "defines no function" in slow.messages["4.2.2"]
    # the time is for all the cells together: two cells of 3 s do not fit in 5
    assert runs[0]["two-slow-cells"].problem == "timed out after 5 s (in cell 4)"
    assert slow.seconds < 40


def test_output_memory_and_files_are_capped_with_a_clear_problem(runs):
    g = runs[0]
    assert "bytes of output: the rest was cut" in g["flood"].problem
    assert g["flood"].statuses == {"4.2.1": "passed", "4.2.2": "passed"}
    assert len(g["flood"].executed) < 12 << 20
    assert "MemoryError" in runs[0]["memory"].problem
    assert "over the memory limit of 2 GiB" in runs[0]["memory"].problem
    assert "File too large" in runs[0]["file"].problem
    assert "a file over the limit of 16 MiB" in runs[0]["file"].problem
    for name in ("memory", "file"):
        assert runs[0][name].statuses == {"4.2.1": "passed", "4.2.2": "passed"}


def test_a_tampered_staged_copy_changes_no_grade(runs):
    g = runs[0]
    assert g["after-tamper"].statuses == {"4.2.1": "passed", "4.2.2": "passed"}


def test_a_notebook_with_no_exercise_says_so(runs):
    grade = runs[0]["no-exercise"]
    assert grade.statuses == {} and grade.problem.startswith("no exercise found")
    assert chapters_of({"cells": []}, "4.1-attention.ipynb") == ("4.1",)
    assert chapters_of({"cells": []}, "alice-4.1.ipynb") == ()


def test_the_table_counts_each_notebook_out_of_its_own_chapters():
    one = NotebookGrade(Path("a.ipynb"), ("4.2",), {"4.2.1": "passed", "4.2.2": "passed"})
    other = NotebookGrade(Path("b.ipynb"), ("7",), {"7.1": "passed", "7.2": "not done"}, seed=3)
    header, rows = grades_table([one, other])
    assert header == ["notebook", "4.2.1", "4.2.2", "7.1", "7.2", "passed", "seed", "problem"]
    assert rows == [
        ["a.ipynb", "passed", "passed", "", "", "2/2", "0", ""],
        ["b.ipynb", "", "", "passed", "not done", "1/2", "3", ""],
    ]
    assert messages_table([one])[0] == ["notebook", "exercise", "status", "message"]


def test_spreadsheet_formulas_are_neutralised():
    for cell in ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(cell) == "'" + cell
    assert spreadsheet_safe("passed") == "passed" and spreadsheet_safe(3) == "3"


def test_the_grade_command_writes_both_csvs_as_it_goes_and_keeps_the_notebooks(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    submission(tmp_path / "=HYPERLINK(1).ipynb", [SETUP, RIGHT_1, CHECK_1, WRONG_2, CHECK_2])
    submission(tmp_path / "4.2-b.ipynb", [SETUP, RIGHT_1, CHECK_1])
    written = []
    real = grading.grade_staged

    def watched(*args, **kwargs):  # the CSV exists before the second notebook runs
        written.append(Path("grades.csv").exists())
        return real(*args, **kwargs)

    monkeypatch.setattr(grading, "grade_staged", watched)
    args = [
        "=HYPERLINK(1).ipynb",
        "4.2-b.ipynb",
        "--csv",
        "grades.csv",
        "--keep",
        "kept",
        "--timeout",
        "60",
        "--seed",
        "7",
    ]
    grade_main(args)
    assert written == [False, True]
    rows = list(csv.reader(open("grades.csv")))
    assert rows[0] == ["notebook", "4.2.1", "4.2.2", "passed", "seed", "problem"]
    assert rows[1][:5] == ["'=HYPERLINK(1).ipynb", "passed", "failed", "1/2", "7"]
    assert rows[2][:5] == ["4.2-b.ipynb", "passed", "not run", "1/2", "7"]
    messages = list(csv.reader(open("grades.messages.csv")))
    assert messages[0] == ["notebook", "exercise", "status", "message"]
    assert any(r[1] == "4.2.2" and r[3].startswith("FAIL 4.2.2") for r in messages)
    kept = json.loads(Path("kept/4.2-b.ipynb").read_text())
    assert "**Graded** (cases' seed 7): 1/2" in kept["cells"][-1]["source"]
    assert kept["cells"][2]["outputs"][0]["data"]["text/plain"].startswith("PASS 4.2.1")
    assert "wrote grades.csv and grades.messages.csv" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--csv grades.csv already exists; pass --overwrite"):
        grade_main(["4.2-b.ipynb", "--csv", "grades.csv"])
    with pytest.raises(SystemExit, match="--messages other.messages.csv already exists"):
        Path("other.messages.csv").write_text("")
        grade_main(["4.2-b.ipynb", "--csv", "other.csv"])
    with pytest.raises(SystemExit, match="--keep kept is not empty; pass --overwrite"):
        grade_main(["4.2-b.ipynb", "--csv", "third.csv", "--keep", "kept"])
    with pytest.raises(SystemExit, match="NOTEBOOK nope.ipynb: no such file"):
        grade_main(["nope.ipynb", "--csv", "fourth.csv"])
    with pytest.raises(SystemExit, match="^error: --csv .*: the folder .*nowhere does not exist$"):
        grade_main(["4.2-b.ipynb", "--csv", str(tmp_path / "nowhere" / "g.csv")])


def test_the_grader_never_crashes_on_a_notebook(tmp_path, monkeypatch):
    submission(tmp_path / "4.2-a.ipynb", [SETUP])
    (tmp_path / "4.2-junk.ipynb").write_bytes(b"\xff\xfe not a notebook")

    def broken(*args, **kwargs):
        raise KeyError("a bug of the grader's own")

    grades = grade_class([tmp_path / "4.2-junk.ipynb"], limits=Limits(timeout=30, answers=10))
    assert grades[0].problem.startswith("cannot read the notebook")
    monkeypatch.setattr(grading, "grade_staged", broken)
    grade = grade_class([tmp_path / "4.2-a.ipynb"], limits=Limits(timeout=30, answers=10))[0]
    assert grade.problem == 'could not be graded: KeyError: "a bug of the grader\'s own"'


def test_only_well_formed_answers_for_asked_exercises_are_kept():
    cases = {"4.2.1": [1, 2]}
    good = CODEC.encode({"exercise": "4.2.1", "outcomes": [("returned", np.float64(1.0), "")]})
    for junk in (
        None,
        [b"not wire"],
        [CODEC.encode({"exercise": "9.9.9", "outcomes": [("returned", 1.0, "")]})],
        [CODEC.encode({"exercise": "4.2.1", "outcomes": [("passed", None, "")]})],
        [CODEC.encode({"exercise": "4.2.1", "outcomes": [("raised", "x", "")]})],
        [CODEC.encode({"exercise": "4.2.1", "outcomes": [("returned", 1.0, "")] * 3})],
        [CODEC.encode("=HYPERLINK()")],
    ):
        assert answers(junk, cases) == {}, junk
    assert answers([good], cases)["4.2.1"][0].kind == "returned"


def test_the_wire_refuses_malformed_bytes_with_one_error():
    rng = np.random.default_rng(0)
    good = CODEC.encode({"a": [np.arange(3.0), (1, "x")]})
    samples = [b"", b"\x00" * 8, good[:-3], good[:12], b"\xff" * 40, good + b"x"]
    samples += [bytes(rng.integers(0, 256, size=int(n), dtype=np.uint8)) for n in (9, 64, 300)]
    for _ in range(40):  # the header's JSON with one byte changed
        data = bytearray(good)
        data[8 + int(rng.integers(0, 60))] = int(rng.integers(0, 256))
        samples.append(bytes(data))
    for data in samples:
        try:
            CODEC.decode(data)
        except WireError:
            pass
    header = b'{"array":{"dtype":"|O","shape":[1],"at":0,"n":8,"layout":"C","owner":true}}'
    with pytest.raises(WireError, match="dtype"):
        CODEC.decode(len(header).to_bytes(8, "little") + header + b"\0" * 8)
    with pytest.raises(WireError, match="more than"):
        CODEC.decode(good, limit=10)


def nested_code(code):
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield c
            yield from nested_code(c)


@pytest.mark.parametrize(
    "factory",
    [wire.codec, wire.sealing, monitor.profiler, monitor.answering, sandbox.arm],
    ids=lambda f: f.__qualname__,
)
def test_the_sandboxs_functions_use_no_global_name(factory):
    """What the sandbox runs while a notebook's code could have replaced builtins, numpy or a
    module's globals reads only names bound when the factory ran (closures, defaults)."""
    for code in nested_code(factory.__code__):
        names = {
            i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")
        }
        assert names == set(), (code.co_qualname, names)


def test_sealing_refuses_what_the_key_did_not_seal():
    seal, unseal, cipher = wire.sealing(os.urandom(32))
    other = wire.sealing(os.urandom(32))[0]
    assert unseal(seal(b"answers")) == b"answers"
    for forged in (other(b"answers"), seal(b"answers")[:-1] + b"x", b"short"):
        with pytest.raises(WireError):
            unseal(forged)
    secret = cipher(b"the question", b"nonce")
    assert secret != b"the question" and cipher(secret, b"nonce") == b"the question"


def test_the_exercises_command_lists_and_gives_hints(capsys):
    exercises_main(["list"])
    assert "4.1.3" in capsys.readouterr().out
    exercises_main(["hint", "4.2.1"])
    assert (
        "4.2.1 cross_entropy(logits, targets): Per row: nll = log(sum(" in capsys.readouterr().out
    )
    with pytest.raises(SystemExit, match="ID: expected one of"):
        exercises_main(["hint", "9.9"])
