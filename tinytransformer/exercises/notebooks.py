"""Student notebooks, built from the teacher's: every solution replaced by NotImplementedError.

In a teacher's notebook (notebooks/4.1-attention.ipynb) an exercise cell reads

    def attention(q, k, v, causal):
        \"\"\"q, k, v (B, nh, T, hs) -> (B, nh, T, hs) ...\"\"\"
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

and the student's copy (notebooks/student/4.1-attention.ipynb) keeps the signature and the
docstring and has `raise NotImplementedError` between them, at the same indentation. Outputs
are dropped; nothing else changes, so the student steps through the same lesson.

A notebook is JSON, read and written here with the json module, as Jupyter writes it (sorted
keys, an indent of 1, each source a list of lines). Not nbformat: importing it (through
jsonschema) took 2.5 s, which every command of the CLI paid at start-up.
"""

import copy
import hashlib
import json
import re
from pathlib import Path

from tinytransformer.files import write_atomic

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "raise NotImplementedError  # your code here"
CHECK_CALL = re.compile(r"""check\(\s*["'](\d+(?:\.\d+)*)["']""")


def strip_solutions(source, where="cell"):
    """A cell's source with each BEGIN/END SOLUTION block replaced by the stub.

    >>> cell = "def f(x):\\n    ### BEGIN SOLUTION\\n    return x\\n    ### END SOLUTION"
    >>> print(strip_solutions(cell))
    def f(x):
        raise NotImplementedError  # your code here
    """
    out, inside = [], False
    for number, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"{where}, line {number}: {BEGIN} inside another solution")
            out.append(line[: len(line) - len(line.lstrip())] + STUB)
            inside = True
        elif marker == END:
            if not inside:
                raise ValueError(f"{where}, line {number}: {END} without a {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN} without an {END}")
    return "\n".join(out)


def read_notebook(path, data=None):
    """A .ipynb file (or its bytes, `data`, read before) -> its JSON (dicts and lists), each
    cell's source as one string.

    Raises OSError if the file cannot be read, ValueError if it is not a version-4 notebook.
    """
    try:
        text = data.decode("utf-8") if data is not None else Path(path).read_text(encoding="utf-8")
        nb = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: expected a notebook (JSON), got {e}") from None
    if not (
        isinstance(nb, dict)
        and nb.get("nbformat") == 4
        and isinstance(nb.get("cells"), list)
        and all(isinstance(c, dict) and "cell_type" in c for c in nb["cells"])
        and all(isinstance(c.get("source", ""), str | list) for c in nb["cells"])
    ):
        raise ValueError(f"{path}: expected a version-4 Jupyter notebook with a list of cells")
    for cell in nb["cells"]:
        source = cell.get("source", "")
        cell["source"] = "".join(map(str, source)) if isinstance(source, list) else source
    return nb


def notebook_text(nb):
    """A notebook (as read_notebook returns it) -> the text Jupyter would write for it."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        cell["source"] = cell["source"].splitlines(keepends=True)
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def student_notebook(teacher, name):
    """The student's copy of a teacher notebook (as read_notebook returns it) -> a new one."""
    nb = copy.deepcopy(teacher)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            cell["source"] = strip_solutions(cell["source"], where=f"{name}, cell {i}")
            cell["outputs"] = []
            cell["execution_count"] = None
    note = {
        "cell_type": "markdown",
        "metadata": {},
        "source": f"*Student copy of `notebooks/{name}`, made by `python -m tinytransformer "
        "exercises build`: each exercise's solution is replaced by `raise NotImplementedError`. "
        "Write yours in its place and run the `check(...)` cell below it.*",
    }
    nb["cells"].insert(0, note)
    for i, cell in enumerate(nb["cells"]):  # ids 0, 1, 2, ...: what nbstripout leaves a notebook
        cell["id"] = str(i)
    return nb


def exercises_in(nb):
    """The exercise ids a notebook checks, in order: the `check("4.1.3", ...)` calls."""
    ids = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            ids += [i for i in CHECK_CALL.findall(cell["source"]) if i not in ids]
    return ids


def teacher_notebooks(notebooks_dir):
    """The teacher notebooks of a folder: its *.ipynb files, sorted (not those in student/)."""
    return sorted(Path(notebooks_dir).glob("*.ipynb"))


def student_path(teacher_path):
    teacher_path = Path(teacher_path)
    return teacher_path.parent / "student" / teacher_path.name


def built_text(teacher_path):
    """The student notebook of one teacher notebook, as the text that is written to disk."""
    teacher = read_notebook(teacher_path)
    return notebook_text(student_notebook(teacher, Path(teacher_path).name))


MANIFEST = "manifest.json"  # in notebooks/student/: the sha256 of each copy last written


class BuildConflict(Exception):
    """Student copies that differ from what `exercises build` last wrote: edited by hand."""

    def __init__(self, paths):
        self.paths = paths
        names = ", ".join(str(p) for p in paths)
        super().__init__(
            f"{names}: changed since `exercises build` last wrote them (edited by hand?); "
            "nothing was written. Pass --overwrite to replace them."
        )


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_manifest(folder):
    """name -> sha256 of the student copies `exercises build` last wrote ({} if none)."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    copies = manifest.get("copies") if isinstance(manifest, dict) else None
    return copies if isinstance(copies, dict) else {}


def build_students(notebooks_dir, overwrite=False):
    """Write notebooks/student/NAME for every teacher notebook -> the paths written.

    All or none: every copy is built in memory first (a broken teacher notebook raises
    ValueError before anything is written), and a copy that differs both from the new build
    and from what was last written here (its hash in student/manifest.json) has been edited:
    BuildConflict names every such file, and nothing is written, unless overwrite."""
    built = {}
    for teacher in teacher_notebooks(notebooks_dir):
        built[student_path(teacher)] = built_text(teacher).encode("utf-8")
    folder = Path(notebooks_dir) / "student"
    manifest = read_manifest(folder)
    conflicts = []
    for path, data in built.items():
        if not path.is_file():
            continue
        old = path.read_bytes()
        if old != data and sha256(old) != manifest.get(path.name):
            conflicts.append(path)
    if conflicts and not overwrite:
        raise BuildConflict(conflicts)
    folder.mkdir(exist_ok=True)
    for path, data in built.items():
        write_atomic(path, data)
    copies = {path.name: sha256(data) for path, data in built.items()}
    note = "written by `python -m tinytransformer exercises build`: each student copy's sha256"
    text = json.dumps({"note": note, "copies": copies}, indent=1, sort_keys=True) + "\n"
    write_atomic(folder / MANIFEST, text.encode("utf-8"))
    return list(built)


def stale_students(notebooks_dir):
    """The student notebooks that are missing or differ from a fresh build, and the manifest if
    it does not hold their hashes (empty: all current)."""
    stale = []
    copies = read_manifest(Path(notebooks_dir) / "student")
    for t in teacher_notebooks(notebooks_dir):
        path = student_path(t)
        data = built_text(t).encode("utf-8")
        if not path.is_file() or path.read_bytes() != data or copies.get(path.name) != sha256(data):
            stale.append(path)
    return stale
