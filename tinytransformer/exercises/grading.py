"""Grading a class: every submission run in a sandbox of its own, every grade decided here.

    grades = grade_class(paths, timeout=600)      # one NotebookGrade per path, in order
    header, rows = grades_table(grades)           # the table (and grades.csv)
    rows = messages_table(grades)                 # each exercise's message (the second CSV)

What happens, in order:
1. Staging. Every notebook is read and copied into a private folder before any of them runs, and
   so is the package (the sandboxes import that copy, checked and restored before each run). A
   notebook is graded from its staged copy; nothing is ever written into the submissions'
   folder or the teacher's files. A change a notebook makes there anyway (by an absolute path)
   is reported on that notebook.
2. The question. The exercises of the notebook's chapter(s) (its check(...) calls, or its file
   name: "4.1-attention.ipynb" is chapter 4.1), each on its edge cases and on random cases drawn
   from a seed picked now (recorded with the grade, so a run can be repeated with --seed).
3. The run. `python -m tinytransformer.exercises.runner` in a new session, in an empty working
   folder of its own, with the address space and the file size capped, runs the notebook and
   asks its functions the question (runner.py, sandbox.py). Its reply is read with a size limit
   and decoded as plain data; whatever it holds, a malformed reply is this notebook's problem.
4. The end. Every process of the notebook is ended (processes.end_all): its sessions, its
   descendants, the orphans it left to this process, and anything carrying the run's token.
5. The grade. The outcomes are judged here, against the library, by judging.judge. Only the
   exercises of the notebook's own chapters are recorded, with one of STATUSES, and the
   notebook is counted out of its own chapters' exercises.
"""

import compileall
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tinytransformer.exercises import processes
from tinytransformer.exercises.catalog import EXERCISES
from tinytransformer.exercises.checking import case_rng
from tinytransformer.exercises.judging import STATUSES, Result, judge
from tinytransformer.exercises.monitor import Outcome
from tinytransformer.exercises.notebooks import exercises_in, read_notebook
from tinytransformer.exercises.runner import KERNEL_START_SECONDS, TOKEN
from tinytransformer.exercises.wire import CODEC, WireError

MEMORY = 8 << 30  # bytes of address space for each process of a notebook (RLIMIT_AS)
FILE_SIZE = 1 << 30  # bytes: the largest file a notebook may write (RLIMIT_FSIZE)
OUTPUT_LIMIT = 10 << 20  # bytes of cell output kept for audit
REPLY_LIMIT = 512 << 20  # bytes read from the runner
GRACE = 30  # seconds past --timeout before the grader ends a run itself
KINDS = ("returned", "raised", "not done", "library", "stopped")
NO_FUNCTION = "the notebook defines no such function"


@dataclass
class NotebookGrade:
    """The outcome of one notebook: its chapters, each of their exercises' status (one of
    STATUSES) and message, what went wrong with the run itself, if anything, the seed of its
    random cases, the seconds it took, and the executed notebook (JSON text, for --keep)."""

    path: Path
    chapters: tuple = ()
    statuses: dict = field(default_factory=dict)
    messages: dict = field(default_factory=dict)
    problem: str = ""
    seed: int = 0
    seconds: float = 0.0
    executed: str = ""

    @property
    def n_passed(self):
        return sum(s == "passed" for s in self.statuses.values())


def chapters_of(nb, name):
    """The chapters a notebook answers: those of the exercises its check(...) cells name, and
    the one its file name starts with ("4.1-attention.ipynb", "alice-4.1.ipynb" is not one)."""
    chapters = {EXERCISES[i].chapter for i in exercises_in(nb) if i in EXERCISES}
    known = {ex.chapter for ex in EXERCISES.values()}
    prefix = name.split("-")[0]
    if prefix in known:
        chapters.add(prefix)
    return tuple(sorted(chapters, key=lambda c: [int(p) for p in c.split(".")]))


def function_source(nb, function):
    """The lines of the notebook's code cell defining `function`, from its `def` on."""
    for cell in nb["cells"]:
        lines = cell["source"].splitlines() if cell["cell_type"] == "code" else []
        for i, line in enumerate(lines):
            if line.startswith(f"def {function}("):
                return lines[i:]
    return None


class Staging:
    """The private copies a grading run works from (see the module docstring, step 1)."""

    def __init__(self, paths):
        self.root = Path(tempfile.mkdtemp(prefix="tinytransformer-grade-"))
        self.paths = [Path(p) for p in paths]
        self.copies, self.problems = [], []
        (self.root / "submissions").mkdir()
        for i, path in enumerate(self.paths):
            try:
                data = path.read_bytes()
            except OSError as e:
                data, problem = None, f"cannot read the notebook: {e.strerror or e}"
            else:
                problem = ""
                copy = self.root / "submissions" / f"{i:03d}-{path.name}"
                copy.write_bytes(data)
                copy.chmod(0o400)
            self.copies.append(data)
            self.problems.append(problem)
        self.originals = {p: digest(p) for p in self.paths}
        source = Path(__file__).parents[1]  # the package's folder
        for p in python_files(source):
            copy = self.root / "package" / p.relative_to(source.parent)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(p.read_bytes())
        compileall.compile_dir(self.root / "package", quiet=2)  # compiled once, here
        self.package = {
            p.relative_to(self.root / "package"): p.read_bytes()
            for p in (self.root / "package").rglob("*")
            if p.is_file()
        }
        self.teacher = {p: digest(p) for p in python_files(source)}

    @property
    def pythonpath(self):
        return str(self.root / "package")

    def restore_package(self):
        """Write back any file of the package copy (its sources and their compiled code) that
        is missing or changed, and remove any a notebook added -> the paths restored or
        removed."""
        touched = []
        package = self.root / "package"
        for relative, data in self.package.items():
            path = package / relative
            try:
                if path.read_bytes() == data:
                    continue
            except OSError:
                path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.chmod(0o600)  # a notebook may have made it read-only
            path.write_bytes(data)
            touched.append(str(relative))
        for path in package.rglob("*"):
            if path.is_file() and path.relative_to(package) not in self.package:
                path.unlink()  # a module, or compiled code, a notebook added
                touched.append(str(path.relative_to(package)))
        return touched

    def changed(self):
        """The submissions and package files that changed on disk since staging."""
        return [str(p) for p, d in {**self.originals, **self.teacher}.items() if digest(p) != d]

    def remove(self):
        for p in self.root.rglob("*"):
            try:
                p.chmod(0o700)
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def python_files(folder):
    return sorted(p for p in Path(folder).rglob("*.py") if "__pycache__" not in p.parts)


def digest(path):
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class Limits:
    """What each notebook is allowed: seconds for its cells, then for its answers (None: a
    quarter of timeout, 20 to 120 s), bytes of address space per process, bytes per file
    written, bytes of cell output kept."""

    timeout: float = 600
    answers: float = None
    memory: int = MEMORY
    file_size: int = FILE_SIZE
    output: int = OUTPUT_LIMIT


def grade_class(
    paths, timeout=600, fast=True, memory=MEMORY, seed=None, on_grade=None, limits=None
):
    """Grade each notebook (the module docstring) -> [NotebookGrade], in the order of paths.
    on_grade(grade) is called after each one (to write the CSV as the class goes); limits (a
    Limits) replaces timeout and memory when given. Never raises for a submission: whatever one
    does is its own problem."""
    limits = limits or Limits(timeout, memory=memory)
    processes.harden()
    staging = Staging(paths)
    grades = []
    try:
        for i, path in enumerate(staging.paths):
            start = time.monotonic()
            notebook_seed = seed if seed is not None else secrets.randbelow(1 << 62)
            try:
                grade = grade_staged(staging, i, limits, fast, notebook_seed)
            except Exception as e:  # the grader's own fault: one notebook's problem, not a crash
                grade = NotebookGrade(path, problem=f"could not be graded: {type(e).__name__}: {e}")
            grade.seconds = time.monotonic() - start
            changed = staging.changed() + [
                f"the sandbox's copy of {p}" for p in staging.restore_package()
            ]
            if changed:
                grade.problem = join(
                    grade.problem,
                    f"while it ran, files outside its folder changed: {', '.join(changed)}",
                )
                staging.originals = {p: digest(p) for p in staging.paths}
                staging.teacher = {p: digest(p) for p in staging.teacher}
            grades.append(grade)
            if on_grade is not None:
                on_grade(grade)
    finally:
        staging.remove()
    return grades


def grade_notebook(path, timeout=600, fast=True, memory=MEMORY, seed=None):
    """grade_class for one notebook -> its NotebookGrade."""
    return grade_class([path], timeout, fast, memory, seed)[0]


def join(*problems):
    return "; ".join(p for p in problems if p)


def grade_staged(staging, i, limits, fast, seed):
    path, data = staging.paths[i], staging.copies[i]
    if data is None:
        return NotebookGrade(path, problem=staging.problems[i], seed=seed)
    try:
        nb = read_notebook(path, data)  # the staged bytes, kept in memory since staging
    except (OSError, ValueError) as e:
        return NotebookGrade(path, problem=f"cannot read the notebook: {e}", seed=seed)
    chapters = chapters_of(nb, path.name)
    grade = NotebookGrade(path, chapters, seed=seed)
    ids = [i for i, ex in EXERCISES.items() if ex.chapter in chapters]
    if not ids:
        grade.problem = (
            "no exercise found: no check(...) cell, and the file name starts with no chapter"
        )
        return grade
    cases = {i: EXERCISES[i].cases(case_rng(seed, i)) for i in ids}
    reply, problem = run_sandboxed(staging, data, ids, cases, limits, fast)
    grade.problem = problem
    grade.executed = reply.get("executed", "") if isinstance(reply.get("executed"), str) else ""
    results = answers(reply.get("results"), cases)
    for exercise_id in ids:
        ex = EXERCISES[exercise_id]
        outcomes = results.get(exercise_id)
        if not outcomes:
            result = Result(
                ex.id,
                "not run",
                f"NOT RUN {ex.id} {ex.signature}: no answers "
                f"came back ({problem or 'the run ended first'})",
            )
        elif outcomes[0].kind == "stopped" and outcomes[0].detail == NO_FUNCTION:
            result = Result(
                ex.id,
                "not run",
                f"NOT RUN {ex.id} {ex.signature}: the notebook "
                f"defines no function {ex.function} (its cell did not run?)",
            )
        else:
            result = judge(
                ex, cases[exercise_id], outcomes, source=function_source(nb, ex.function)
            )
        assert result.status in STATUSES, result.status
        grade.statuses[exercise_id] = result.status
        grade.messages[exercise_id] = result.message
    return grade


def sandbox_env(private, fast):
    """The environment of a notebook's processes: the package copy first on the path, and the
    folders IPython, Jupyter and matplotlib write to, all private to this run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYTRANSFORMER_")}
    for name in ("ipython", "jupyter", "mpl", "tmp"):
        (private / name).mkdir()
    cache = Path.home() / ".cache" / "matplotlib"
    for font_list in cache.glob("fontlist-*.json") if cache.is_dir() else []:
        shutil.copy(font_list, private / "mpl")  # no font cache to rebuild in every run
    env.update(
        PYTHONDONTWRITEBYTECODE="1",  # the package copy's compiled code is the grader's own
        IPYTHONDIR=str(private / "ipython"),
        JUPYTER_RUNTIME_DIR=str(private / "jupyter"),
        JUPYTER_DATA_DIR=str(private / "jupyter"),
        MPLCONFIGDIR=str(private / "mpl"),
        TMPDIR=str(private / "tmp"),
    )
    if fast:
        env["TINYTRANSFORMER_FAST"] = "1"
    return env


def run_sandboxed(staging, data, ids, cases, limits, fast):
    """Run one notebook in a sandbox (steps 3 and 4) -> (its reply, a dict; the run's problem)."""
    with (
        tempfile.TemporaryDirectory(prefix="tinytransformer-notebook-") as folder,
        tempfile.TemporaryDirectory(prefix="tinytransformer-private-") as private,
    ):
        token = secrets.token_hex(16)
        env = sandbox_env(Path(private), fast)
        env["PYTHONPATH"] = os.pathsep.join(
            [
                staging.pythonpath,
                *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p],
            ]
        )
        env[TOKEN] = token
        timeout = limits.timeout
        answer_seconds = limits.answers or min(120.0, max(20.0, timeout / 4))
        question = {
            "exercises": [[i, EXERCISES[i].function, [c.inputs for c in cases[i]]] for i in ids],
            "exercise_seconds": max(5.0, answer_seconds / len(ids)),
        }
        request = {
            "notebook": data.decode("utf-8", "replace"),
            "question": CODEC.encode(question),
            "timeout": float(timeout),
            "answer_seconds": answer_seconds,
            "output_limit": limits.output,
            "memory": limits.memory,
            "file_size": limits.file_size,
        }
        before = processes.children()
        command = [sys.executable, "-P", "-m", "tinytransformer.exercises.runner"]
        proc = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        out, err = bounded_communicate(
            proc,
            CODEC.encode(request),
            timeout + answer_seconds + GRACE + KERNEL_START_SECONDS,
        )
        kernel = 0
        reply, problem = {}, ""
        if out is None:
            problem = f"timed out after {timeout} s"
        try:
            if out is not None:
                reply = CODEC.decode(out, REPLY_LIMIT)
                if not isinstance(reply, dict):
                    raise WireError("not a dict")
                problem = str(reply.get("problem", ""))[:2000]
                kernel = reply.get("kernel") if isinstance(reply.get("kernel"), int) else 0
        except WireError as e:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
            problem = f"the run's reply could not be read ({e}){': ' + tail[0] if tail else ''}"
            reply = {}
        sessions = {proc.pid} | ({kernel} if kernel else set())
        processes.end_all(sessions, token, roots=[proc.pid], adopted_since=before)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        return reply, problem


def bounded_communicate(proc, data, timeout):
    """Write data to proc's stdin and read its stdout and stderr, each up to a limit, for at
    most `timeout` seconds -> (stdout bytes, or None on a timeout or an overflow; stderr)."""
    chunks = {"out": [], "err": []}
    sizes = {"out": REPLY_LIMIT + 1, "err": 1 << 16}

    def drain(stream, name):
        total = 0
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                return
            total += len(chunk)
            if name == "err":
                chunks[name] = (chunks[name] + [chunk])[-4:]  # its last lines only
            elif total <= sizes[name]:
                chunks[name].append(chunk)

    def feed():
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except OSError:  # the runner ended before reading it all
            pass

    threads = [
        threading.Thread(target=feed, daemon=True),
        threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True),
        threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, b"".join(chunks["err"])
    for t in threads[1:]:
        t.join(timeout=5)
    out = b"".join(chunks["out"])
    return (out if len(out) <= REPLY_LIMIT else None), b"".join(chunks["err"])


def answers(results, cases):
    """The runner's results -> {exercise id: [Outcome]}, keeping only what is well formed: a
    known, asked exercise id, at most one outcome per case, each of a known kind."""
    found = {}
    for data in results if isinstance(results, list) else []:
        try:
            message = CODEC.decode(data, REPLY_LIMIT) if isinstance(data, bytes) else None
        except WireError:
            continue
        if not isinstance(message, dict) or message.get("exercise") not in cases:
            continue
        outcomes = message.get("outcomes")
        if not isinstance(outcomes, list) or len(outcomes) > len(cases[message["exercise"]]):
            continue
        good = [as_outcome(o) for o in outcomes]
        if good and all(o is not None for o in good):
            found.setdefault(message["exercise"], good)
    return found


def as_outcome(o):
    if not (isinstance(o, tuple) and len(o) == 3 and o[0] in KINDS and isinstance(o[2], str)):
        return None
    if o[0] == "raised" and not (isinstance(o[1], int) and not isinstance(o[1], bool)):
        return None
    return Outcome(o[0], o[1] if o[0] in ("returned", "raised") else None, o[2][:2000])


def grades_table(grades):
    """-> (header, rows): one row per notebook, a column per exercise of the chapters in the
    class (in the catalog's order), then the number passed out of the notebook's own chapters'
    exercises, the seed of its cases and the run's problem. An exercise of another chapter is
    left blank: it is not that notebook's. Plain lists, for printing or a CSV."""
    chapters = {c for g in grades for c in g.chapters}
    ids = [i for i, ex in EXERCISES.items() if ex.chapter in chapters]
    header = ["notebook", *ids, "passed", "seed", "problem"]
    rows = [
        [
            str(g.path),
            *(g.statuses.get(i, "") for i in ids),
            f"{g.n_passed}/{len(g.statuses)}",
            str(g.seed),
            g.problem,
        ]
        for g in grades
    ]
    return header, rows


def messages_table(grades):
    """-> rows (header first): notebook, exercise, status, message, one per graded exercise."""
    rows = [["notebook", "exercise", "status", "message"]]
    for g in grades:
        rows += [[str(g.path), i, g.statuses[i], g.messages.get(i, "")] for i in g.statuses]
    return rows


def spreadsheet_safe(cell):
    """A CSV cell a spreadsheet will not run: one starting with =, +, -, @, a tab or a carriage
    return is a formula to Excel and its kin, so it gets a leading apostrophe."""
    text = str(cell)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
