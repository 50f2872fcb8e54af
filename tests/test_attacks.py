# ruff: noqa: E501 -- the attack notebooks' cells are source text, kept as a student writes it
"""The project's attack suite: ways a student could fake a pass (cheats), and ways one notebook
could spoil the grading of a class (class attacks). Each is a small notebook, or a few, graded
here in one batch; each test says what the grader must do with it.

Every attack also fooled the grader of commit aeb9206 (before issue 17), and the tests marked
"old" show it, when they are given that checkout (they are skipped otherwise, as in CI):

    git worktree add /tmp/old17 aeb9206
    TINYTRANSFORMER_OLD_CHECKOUT=/tmp/old17 python -m pytest -p no:cacheprovider \\
        tests/test_attacks.py -k old
    git worktree remove /tmp/old17

The cheats use chapter 4.2 (two quick exercises); a wrong answer is the summed loss.
"""

import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from tinytransformer.exercises.grading import Limits, grade_class

OLD = os.environ.get("TINYTRANSFORMER_OLD_CHECKOUT")
old_only = pytest.mark.skipif(not OLD, reason="TINYTRANSFORMER_OLD_CHECKOUT not set")

SETUP = """import json, os, sys
import numpy as np
from tinytransformer.exercises import check, EXERCISES
from tinytransformer import ops"""

WRONG = """def cross_entropy(logits, targets):
    keep = targets != -100
    z = logits[keep] - logits[keep].max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(keep.sum()), targets[keep]].sum()  # summed, not averaged

def cross_entropy_backward(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    g = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    keep = targets != -100
    g[np.arange(len(targets))[keep], targets[keep]] -= 1
    g[~keep] = 0
    return g  # not divided by the count"""

RIGHT_1 = """def cross_entropy(logits, targets):
    keep = targets != -100
    z = logits[keep] - logits[keep].max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(keep.sum()), targets[keep]].mean()"""

RIGHT_2 = """def cross_entropy_backward(logits, targets):
    z = logits - logits.max(axis=1, keepdims=True)
    g = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    keep = targets != -100
    g[np.arange(len(targets))[keep], targets[keep]] -= 1
    g[~keep] = 0
    return g / keep.sum()"""

RIGHT = RIGHT_1 + "\n\n" + RIGHT_2

LIBRARY = """def cross_entropy(logits, targets):
    return ops.cross_entropy_forward(logits, targets)[0]"""

CHECKS = ["check('4.2.1', cross_entropy)", "check('4.2.2', cross_entropy_backward)"]

# a leftover process's loop: "passed" into every grade log the old grader keeps
TAMPER_LOOP = """open(sys.argv[1], "w").write(str(os.getpid()))
end = time.time() + 60
while time.time() < end:
    for log in glob.glob(os.path.join(sys.argv[2], "*", "checks.jsonl")):
        with open(log, "a") as f:
            f.write(json.dumps({"exercise": "4.2.2", "status": "passed", "message": "PASS"}) + "\\\\n")
    time.sleep(0.05)
"""

LOG = """def log_row(exercise_id, status="passed"):
    # the old grader read every check's result back from this file: the last row won
    path = os.environ.get("TINYTRANSFORMER_GRADE_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"exercise": exercise_id, "status": status, "message": "PASS"}) + "\\n")"""


REWRITE = f"""wrong = {{"nbformat": 4, "nbformat_minor": 5, "metadata": {{}}, "cells": [
    {{"cell_type": "code", "metadata": {{}}, "outputs": [], "execution_count": None, "source": s}}
    for s in {[SETUP, WRONG, CHECKS[0]]!r}]}}
with open("4.2-classmate.ipynb", "w") as f:
    json.dump(wrong, f)"""


def library_with(cell):
    """A cheat's cells: an answer that is the library's, after `cell`."""
    return [SETUP, cell, LIBRARY, CHECKS[0]]


@dataclass
class Attack:
    """One attack: its notebooks (file name -> cells, graded in this order), what it is, and
    how the old grader took it."""

    name: str
    kind: str  # "cheat" or "class"
    how: str
    notebooks: dict
    files: dict = field(default_factory=dict)  # other files in the submissions folder


ATTACKS = [
    Attack(
        "grade-log row",
        "cheat",
        "a 'passed' row appended to the grade log: the last won",
        {"4.2-log-row.ipynb": [SETUP, WRONG, *CHECKS, LOG, "log_row('4.2.1')"]},
    ),
    Attack(
        "own check",
        "cheat",
        "a check() of its own that writes 'passed' rows",
        {"4.2-own-check.ipynb": [SETUP, LOG, "def check(i, fn):\n    log_row(i)", WRONG, *CHECKS]},
    ),
    Attack(
        "checker's _run replaced",
        "cheat",
        "checking._run patched to say PASS",
        {
            "4.2-patch-run.ipynb": [
                SETUP,
                "import tinytransformer.exercises.checking as c\n"
                "R = c.Result\nc._run = lambda ex, fn: R(ex.id, 'passed', 'PASS ' + ex.id)",
                WRONG,
                *CHECKS,
            ]
        },
    ),
    Attack(
        "checker's _compare replaced",
        "cheat",
        "checking._compare patched to find no error",
        {
            "4.2-patch-compare.ipynb": [
                SETUP,
                "import tinytransformer.exercises.checking as c\n"
                "c._compare = lambda ex, want, got: (None, 0.0)",
                WRONG,
                *CHECKS,
            ]
        },
    ),
    Attack(
        "reference replaced",
        "cheat",
        "EXERCISES['4.2.1'].reference set to the wrong answer",
        {
            "4.2-reference.ipynb": [
                SETUP,
                WRONG,
                "object.__setattr__(EXERCISES['4.2.1'], 'reference', cross_entropy)",
                *CHECKS,
            ]
        },
    ),
    Attack(
        "numpy.abs patched",
        "cheat",
        "np.abs returning zeros: every error measured 0",
        {
            "4.2-numpy-abs.ipynb": [
                SETUP,
                WRONG,
                "np.abs = lambda a, *args, **kwargs: np.zeros(np.shape(a))",
                *CHECKS,
            ]
        },
    ),
    Attack(
        "the exercise's reference as the answer",
        "cheat",
        "passed: it is the reference",
        {
            "4.2-reference-answer.ipynb": [
                SETUP,
                "cross_entropy = EXERCISES['4.2.1'].reference",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "the library's op inside",
        "cheat",
        "passed: nothing looked at what the answer called",
        {"4.2-library-op.ipynb": library_with("pass")},
    ),
    Attack(
        "the reference read from the checker's frame",
        "cheat",
        "sys._getframe walked up to the checker's `ex` and called its reference",
        {
            "4.2-frame.ipynb": [
                SETUP,
                """def cross_entropy(logits, targets):
    f = sys._getframe(1)
    while f is not None and not any(hasattr(v, "reference") for v in f.f_locals.values()):
        f = f.f_back
    if f is None:
        return 0.0
    ex = next(v for v in f.f_locals.values() if hasattr(v, "reference"))
    return ex.reference(logits, targets)""",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "a table of the package's cases",
        "cheat",
        "the cases were fixed by seeds in the package: answers looked up, no maths",
        {
            "4.2-table.ipynb": [
                SETUP,
                """ex = EXERCISES['4.2.1']
try:
    cases = ex.cases()
except TypeError:  # newer: cases(rng); take check()'s own seed
    from tinytransformer.exercises.checking import case_rng
    cases = ex.cases(case_rng(0, '4.2.1'))
table = {}
for case in cases:
    l, t = case.inputs['logits'], case.inputs['targets']
    table[l.tobytes() + t.tobytes()] = ops.cross_entropy_forward(l, t)[0]

def cross_entropy(logits, targets):
    return table.get(logits.tobytes() + targets.tobytes(), 0.0)""",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "a private copy of the library's module",
        "cheat",
        "the op loaded again under another name: passed",
        {
            "4.2-module-copy.ipynb": [
                SETUP,
                """import importlib.util
import tinytransformer.ops.cross_entropy as m
spec = importlib.util.spec_from_file_location("my_loss", m.__file__)
mine = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mine)

def cross_entropy(logits, targets):
    return mine.cross_entropy_forward(logits, targets)[0]""",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "the library's source pasted",
        "cheat",
        "the op's source exec'd in the notebook: passed",
        {
            "4.2-pasted.ipynb": [
                SETUP,
                """import inspect
import tinytransformer.ops.cross_entropy as m
pasted = dict(vars(m))
exec(compile(inspect.getsource(m.cross_entropy_forward), "my cell", "exec"), pasted)

def cross_entropy(logits, targets):
    return pasted["cross_entropy_forward"](logits, targets)[0]""",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "a helper thread",
        "cheat",
        "a thread started earlier computes the library's answer",
        {
            "4.2-thread.ipynb": [
                SETUP,
                """import threading, queue
asks, answers = queue.Queue(), queue.Queue()

def helper():
    while True:
        l, t = asks.get()
        answers.put(ops.cross_entropy_forward(l, t)[0])

threading.Thread(target=helper, daemon=True).start()

def cross_entropy(logits, targets):
    asks.put((logits, targets))
    return answers.get()""",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "a helper process",
        "cheat",
        "a process started earlier computes the library's answer",
        {
            "4.2-helper-process.ipynb": [
                SETUP,
                """import subprocess
SERVER = '''
import io, sys, numpy as np
from tinytransformer import ops
while True:
    n = int.from_bytes(sys.stdin.buffer.read(8), "little")
    d = np.load(io.BytesIO(sys.stdin.buffer.read(n)))
    print(repr(float(ops.cross_entropy_forward(d["l"], d["t"])[0])), flush=True)
'''
server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
import io

def cross_entropy(logits, targets):
    buffer = io.BytesIO(); np.savez(buffer, l=logits, t=targets); data = buffer.getvalue()
    server.stdin.write(len(data).to_bytes(8, "little") + data); server.stdin.flush()
    return float(server.stdout.readline())""",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "a subprocess inside the answer",
        "cheat",
        "the answer asks a new Python for the library's answer",
        {
            "4.2-subprocess.ipynb": [
                SETUP,
                """import io, subprocess
CODE = "import io, sys, numpy as np; from tinytransformer import ops; d = io.BytesIO(sys.stdin.buffer.read()); l, t = np.load(d), np.load(d); print(repr(float(ops.cross_entropy_forward(l, t)[0])))"

def cross_entropy(logits, targets):
    data = io.BytesIO(); np.save(data, logits); np.save(data, targets)
    out = subprocess.run([sys.executable, "-c", CODE], input=data.getvalue(), capture_output=True)
    return float(out.stdout)""",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "the profile function switched off",
        "cheat",
        "sys.setprofile(None), then the library",
        {
            "4.2-setprofile.ipynb": [
                SETUP,
                """def cross_entropy(logits, targets):
    sys.setprofile(None)
    return ops.cross_entropy_forward(logits, targets)[0]""",
                CHECKS[0],
            ]
        },
    ),
    Attack(
        "the grader's sandbox patched",
        "cheat",
        "the sandbox's and monitor's globals replaced "
        "(the old grader had none: the library answer passed)",
        {
            "4.2-patch-sandbox.ipynb": library_with("""try:
    import tinytransformer.exercises.sandbox as s, tinytransformer.exercises.monitor as m
    s.WHILE_ANSWERING = frozenset(); s.ALWAYS_REFUSED = frozenset(); s.FRAME_ATTRIBUTES = frozenset()
    m.profiler = lambda *a, **k: (lambda *b: None)
    m.Watch.of = classmethod(lambda cls, ex, package=None: None)
except ImportError:
    pass""")
        },
    ),
    Attack(
        "the question cell rewritten",
        "cheat",
        "an IPython input transformer empties the "
        "grader's cell (the old grader asked nothing: the library answer passed)",
        {
            "4.2-transformer.ipynb": library_with("""def intercept(lines):
    return ["pass\\n"] if "tinytransformer-grader" in "".join(lines) else lines
get_ipython().input_transformers_cleanup.append(intercept)""")
        },
    ),
    Attack(
        "gc to reach the grader's key",
        "cheat",
        "gc.get_objects() lists every object of the "
        "kernel (the old grader kept its state in the open: the library answer passed)",
        {"4.2-gc.ipynb": library_with("import gc\nobjects = gc.get_objects()")},
    ),
    Attack(
        "an answer equal to anything",
        "cheat",
        "a dict subclass whose != is always False: the table compared equal",
        {
            "5-liar.ipynb": [
                "from tinytransformer.exercises import check",
                """class Liar(dict):
    def __eq__(self, other): return True
    def __ne__(self, other): return False

def bytes_to_unicode():
    return Liar()""",
                "check('5.3', bytes_to_unicode)",
            ]
        },
    ),
    # --- class attacks -----------------------------------------------------------------------
    Attack(
        "junk in the grade log",
        "class",
        "not JSON: the old grader crashed for everyone",
        {
            "4.2-junk.ipynb": [
                SETUP,
                LOG,
                "open(os.environ['TINYTRANSFORMER_GRADE_LOG'], 'a')"
                ".write('this is not JSON\\n') if 'TINYTRANSFORMER_GRADE_LOG' in os.environ else None",
                RIGHT,
                *CHECKS,
            ],
            "4.2-after-junk.ipynb": [SETUP, RIGHT, *CHECKS],
        },
    ),
    Attack(
        "an empty object in the grade log",
        "class",
        "{}: the old grader crashed for everyone",
        {
            "4.2-empty.ipynb": [
                SETUP,
                "p = os.environ.get('TINYTRANSFORMER_GRADE_LOG')\n"
                "open(p, 'a').write('{}\\n') if p else None",
                RIGHT,
                *CHECKS,
            ],
            "4.2-after-empty.ipynb": [SETUP, RIGHT, *CHECKS],
        },
    ),
    Attack(
        "bytes that are not UTF-8 in the grade log",
        "class",
        "the old grader crashed for everyone",
        {
            "4.2-bytes.ipynb": [
                SETUP,
                "p = os.environ.get('TINYTRANSFORMER_GRADE_LOG')\n"
                "open(p, 'ab').write(b'\\xff\\xfe\\n') if p else None",
                RIGHT,
                *CHECKS,
            ],
            "4.2-after-bytes.ipynb": [SETUP, RIGHT, *CHECKS],
        },
    ),
    Attack(
        "a classmate's notebook rewritten",
        "class",
        "notebooks ran in the submissions folder: "
        "a classmate's right answers were replaced before they were graded",
        {
            "4.2-rewriter.ipynb": [
                SETUP,
                REWRITE,
            ],
            "4.2-classmate.ipynb": [SETUP, RIGHT, *CHECKS],
        },
    ),
    Attack(
        "the submissions folder emptied",
        "class",
        "every file beside it deleted, the teacher's draft CSV too",
        {
            "4.2-emptier.ipynb": [
                SETUP,
                "for name in os.listdir('.'):\n    if os.path.isfile(name) "
                "and not name.startswith('4.2-emptier'):\n        os.remove(name)",
                RIGHT,
                *CHECKS,
            ]
        },
        files={"draft.csv": "notebook,grade\nalice,A\n"},
    ),
    Attack(
        "a child that outlives its notebook",
        "class",
        "a child in a session of its own kept running and wrote 'passed' into later classmates' grade logs",
        {
            "4.2-child.ipynb": [
                SETUP,
                RIGHT,
                *CHECKS,
                f"""import subprocess, tempfile
TAMPER = '''
import glob, json, os, sys, tempfile, time
{TAMPER_LOOP}'''
# its own session: the kernel's process group is killed when the notebook ends, this is not
# (its output elsewhere: a process holding the grader's pipes would only hold the grader up)
subprocess.Popen([sys.executable, "-c", TAMPER, "{{marker}}/child.pid", tempfile.gettempdir()], start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)""",
            ],
            "4.2-victim.ipynb": [SETUP, WRONG, *CHECKS, "import time\ntime.sleep(3)"],
        },
    ),
    Attack(
        "a setsid daemon",
        "class",
        "a double fork with setsid and a clean environment: out of "
        "its process group, it outlived grading and wrote into later logs",
        {
            "4.2-daemon.ipynb": [
                SETUP,
                RIGHT,
                *CHECKS,
                f"""import subprocess
DAEMON = '''
import glob, json, os, sys, tempfile, time
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
{TAMPER_LOOP}'''
import tempfile
subprocess.Popen([sys.executable, "-c", DAEMON, "{{marker}}/daemon.pid", tempfile.gettempdir()], env={{"PATH": os.environ["PATH"], "PYTHONPATH": os.environ.get("PYTHONPATH", "")}}, start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)""",
            ],
            "4.2-daemon-victim.ipynb": [SETUP, WRONG, *CHECKS, "import time\ntime.sleep(3)"],
        },
    ),
    Attack(
        "a made-up exercise id",
        "class",
        "a row for 9.9.9 added a column to everyone's grade",
        {"4.2-made-up.ipynb": [SETUP, LOG, RIGHT, *CHECKS, "log_row('9.9.9')"]},
    ),
    Attack(
        "a spreadsheet formula as a status",
        "class",
        "the status landed in grades.csv as a formula",
        {
            "4.2-formula.ipynb": [
                SETUP,
                LOG,
                WRONG,
                *CHECKS,
                "log_row('4.2.1', '=HYPERLINK(\"http://example.com\",\"passed\")')",
            ]
        },
    ),
    Attack(
        "another chapter in the batch",
        "class",
        "a perfect 4.2 notebook was counted out of every "
        "exercise in the batch (2/4 beside a chapter 7 notebook)",
        {
            "4.2-perfect.ipynb": [SETUP, RIGHT, *CHECKS],
            "7-other.ipynb": [
                "from tinytransformer.exercises import check\nimport numpy as np",
                "def conv1d_to_linear(weight):\n    return np.ascontiguousarray(weight.T)",
                "check('7.1', conv1d_to_linear)",
                "def safetensors_header(path):\n    raise NotImplementedError",
                "check('7.2', safetensors_header)",
            ],
        },
    ),
    Attack(
        "the package rewritten for later notebooks",
        "class",
        "checking.py rewritten on disk: every later notebook's check passed",
        {
            "4.2-package.ipynb": [
                SETUP,
                RIGHT,
                *CHECKS,
                """import tinytransformer.exercises.checking as c
with open(c.__file__) as f:
    source = f.read()
with open(c.__file__, "w") as f:
    f.write(source + "\\n_real_check = check\\ndef check(exercise_id, fn, hint=False):\\n    r = _real_check(exercise_id, fn)\\n    r.status = 'passed'\\n    _log(r) if '_log' in globals() else None\\n    return r\\n")""",
            ],
            "4.2-package-victim.ipynb": [SETUP, WRONG, *CHECKS],
        },
    ),
]
ATTACK_IDS = [a.name for a in ATTACKS]


def write_notebook(path, cells, marker=None):
    """A notebook of code cells ("{marker}" in them replaced by the marker folder) -> path."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.replace("{marker}", str(marker))) for c in cells]
    nbformat.write(nb, path)
    return path


def lay_out(attack, folder, marker):
    """The attack's submissions folder -> the notebooks' paths, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in attack.files.items():
        (folder / name).write_text(text)
    paths = []
    for name, cells in attack.notebooks.items():
        write_notebook(folder / name, cells, marker)
        paths.append(folder / name)
    return paths


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every attack graded in one batch, in a submissions folder of their own each (a class
    attack's victims come after it) -> (name -> NotebookGrade, name -> folder, marker folder)."""
    root = tmp_path_factory.mktemp("attacks")
    marker = root / "markers"
    marker.mkdir()
    paths, folders = [], {}
    for i, attack in enumerate(ATTACKS):
        folders[attack.name] = root / f"{i:02d}"
        paths += lay_out(attack, folders[attack.name], marker)
    before = {p: p.read_bytes() for f in folders.values() for p in f.iterdir()}
    grades = grade_class(paths, limits=Limits(timeout=120, answers=10))
    time.sleep(0.5)  # a surviving daemon would have written its pid by now
    return {g.path.name: g for g in grades}, folders, marker, before


def status(graded, notebook, exercise):
    return graded[0][notebook].statuses.get(exercise)


# --- the new grader: nothing above gets a pass it has not earned ---------------------------------

CHEATS = [a for a in ATTACKS if a.kind == "cheat"]


@pytest.mark.parametrize("attack", CHEATS, ids=[a.name for a in CHEATS])
def test_a_cheat_gets_no_pass(attack, graded):
    for name in attack.notebooks:
        grade = graded[0][name]
        assert grade.statuses, (name, grade.problem)
        assert "passed" not in grade.statuses.values(), (name, grade.statuses, grade.messages)


def test_an_honest_notebook_beside_the_attacks_passes(graded):
    for name in ("4.2-after-junk.ipynb", "4.2-after-empty.ipynb", "4.2-after-bytes.ipynb"):
        assert graded[0][name].statuses == {"4.2.1": "passed", "4.2.2": "passed"}, graded[0][name]


def test_what_each_cheat_is_told(graded):
    told = {name: g.messages for name, g in graded[0].items()}
    assert "uses the library's answer" in told["4.2-reference-answer.ipynb"]["4.2.1"]
    library = told["4.2-library-op.ipynb"]["4.2.1"]
    assert "uses the library's answer: it called tinytransformer/ops/cross_entropy.py" in library
    assert "it used sys._getframe" in told["4.2-frame.ipynb"]["4.2.1"]
    assert "expected" in told["4.2-table.ipynb"]["4.2.1"]  # a random case the table lacks
    for name in ("4.2-module-copy.ipynb", "4.2-pasted.ipynb", "4.2-setprofile.ipynb",
                 "4.2-patch-sandbox.ipynb"):  # fmt: skip
        assert "uses the library's answer" in told[name]["4.2.1"], (name, told[name])
    assert "took longer than the time allowed" in told["4.2-thread.ipynb"]["4.2.1"]
    assert "it used subprocess.Popen" in told["4.2-subprocess.ipynb"]["4.2.1"]
    assert "BrokenPipeError" in told["4.2-helper-process.ipynb"]["4.2.1"]  # its helper is gone
    assert "cannot be graded" in told["5-liar.ipynb"]["5.3"]
    for name, words in (("4.2-transformer.ipynb", "the question was not answered"),
                        ("4.2-gc.ipynb", "gc.get_objects")):  # fmt: skip
        assert set(graded[0][name].statuses.values()) == {"not run"}
        assert words in graded[0][name].problem, graded[0][name].problem


def test_no_notebook_can_touch_its_classmates_or_the_teachers_files(graded):
    grades, folders, marker, before = graded
    for path, data in before.items():  # every submission and the draft CSV, as they were
        assert path.read_bytes() == data, path
    assert status(graded, "4.2-classmate.ipynb", "4.2.1") == "passed"
    assert grades["4.2-emptier.ipynb"].statuses == {"4.2.1": "passed", "4.2.2": "passed"}


def test_no_process_of_a_notebook_outlives_it(graded):
    grades, folders, marker, _ = graded
    for victim in ("4.2-victim.ipynb", "4.2-daemon-victim.ipynb"):
        assert grades[victim].statuses == {"4.2.1": "failed", "4.2.2": "failed"}
    for name in ("child.pid", "daemon.pid"):
        if (marker / name).exists():  # it ran while its notebook did; it must be gone now
            pid = int((marker / name).read_text())
            assert (
                not Path(f"/proc/{pid}").exists()
                or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
            )


def test_only_the_chapters_exercises_and_the_five_statuses_are_recorded(graded):
    grades = graded[0]
    assert set(grades["4.2-made-up.ipynb"].statuses) == {"4.2.1", "4.2.2"}
    assert grades["4.2-formula.ipynb"].statuses == {"4.2.1": "failed", "4.2.2": "failed"}
    assert (
        grades["4.2-perfect.ipynb"].n_passed == 2 and len(grades["4.2-perfect.ipynb"].statuses) == 2
    )
    assert set(grades["7-other.ipynb"].statuses) == {"7.1", "7.2"}


def test_the_package_copy_is_restored_and_the_rewrite_reported(graded):
    grades = graded[0]
    assert grades["4.2-package-victim.ipynb"].statuses == {"4.2.1": "failed", "4.2.2": "failed"}
    assert (
        "the sandbox's copy of tinytransformer/exercises/checking.py"
        in grades["4.2-package.ipynb"].problem
    )


# --- the old grader was fooled by each (run with TINYTRANSFORMER_OLD_CHECKOUT) --------------------


def run_old(paths, folder):
    """The grader of the old checkout on `paths`, run from `folder` -> (returncode, the CSV's
    rows by notebook file name, its header, stdout and stderr)."""
    out = folder / "old-grades.csv"
    env = {**os.environ, "PYTHONPATH": OLD}
    command = [
        sys.executable,
        "-m",
        "tinytransformer",
        "grade",
        *map(str, paths),
        "--csv",
        str(out),
    ]
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    rows, header = {}, []
    if out.exists():
        table = list(csv.reader(out.open()))
        header = table[0]
        rows = {Path(r[0]).name: dict(zip(header, r)) for r in table[1:]}
    return proc.returncode, rows, header, proc.stdout + proc.stderr


def old_fooled(attack, tmp_path):
    """Run the attack under the old grader -> a sentence saying how it was fooled (asserting it)."""
    marker = tmp_path / "markers"
    marker.mkdir()
    folder = tmp_path / "submissions"
    saved = {}
    if attack.name == "the package rewritten for later notebooks":  # it rewrites the old checkout
        target = Path(OLD) / "tinytransformer" / "exercises" / "checking.py"
        saved[target] = target.read_bytes()
    before = {}
    try:
        paths = lay_out(attack, folder, marker)
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        code, rows, header, output = run_old(paths, folder)
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
    names = list(attack.notebooks)
    if attack.kind == "cheat":
        row = rows[names[0]]
        exercise = "5.3" if names[0].startswith("5-") else "4.2.1"
        assert row[exercise] == "passed", (attack.name, row, output[-2000:])
        return f"{exercise} passed"
    if attack.name.endswith("grade log") or attack.name.startswith("bytes"):
        assert code != 0 and not rows, output[-2000:]
        return "the grade command crashed: no table, no CSV for anyone"
    if attack.name == "a classmate's notebook rewritten":
        assert rows["4.2-classmate.ipynb"]["4.2.1"] == "failed", rows
        return "the classmate's right answer graded failed"
    if attack.name == "the submissions folder emptied":
        assert not (folder / "draft.csv").exists() and "draft.csv" in before
        return "the teacher's draft CSV was deleted"
    if attack.name in ("a child that outlives its notebook", "a setsid daemon"):
        victim = rows[names[1]]
        assert victim["4.2.2"] == "passed", victim
        pid = int(next(marker.glob("*.pid")).read_text())
        alive = Path(f"/proc/{pid}").exists()
        if alive:
            os.kill(pid, 9)
        return f"the later classmate's wrong 4.2.2 graded passed (the process alive after grading: {alive})"
    if attack.name == "a made-up exercise id":
        assert "9.9.9" in header, header
        return "a 9.9.9 column in everyone's table"
    if attack.name == "a spreadsheet formula as a status":
        assert rows[names[0]]["4.2.1"].startswith("=HYPERLINK"), rows
        return "=HYPERLINK(...) in grades.csv"
    if attack.name == "another chapter in the batch":
        assert rows["4.2-perfect.ipynb"]["passed"] == "2/4", rows
        return "a perfect 4.2 notebook counted 2/4"
    if attack.name == "the package rewritten for later notebooks":
        assert rows["4.2-package-victim.ipynb"]["4.2.1"] == "passed", rows
        return "the later classmate's wrong answers graded passed"
    raise AssertionError(f"no old check for {attack.name}")


@old_only
@pytest.mark.parametrize("attack", ATTACKS, ids=ATTACK_IDS)
def test_the_attack_fooled_the_old_grader(attack, tmp_path):
    how = old_fooled(attack, tmp_path)
    print(f"old grader, {attack.name}: {how}")
