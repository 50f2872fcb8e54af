"""The exercise contract, for every exercise in the catalog (a new one is covered by adding it):

(a) the teacher's solution passes, under the notebook's check() and under the grader;
(b) the student notebooks' exercise cells (their imports, stubs and check() calls) run in the
    grader, every exercise "not done" (the rest of each copy is its teacher notebook's, which CI
    runs whole);
(c) wrong answers written as students write them (tests/exercise_mutants.py) are rejected, the
    known mistake named where there is one; right answers written other ways pass, on several
    seeds (no case sits on a floating-point knife edge); every declared mistake is rejected and
    named, and differs from the right answer somewhere;
(d) the library's own answer is reported as such, never passed;
(e) every case crosses the process boundary as plain data and comes back equal; the random cases
    follow their seed;
(f) what a message says: the case, enough digits, where, float32, swapped outputs, readable
    objects, properties first and the formula only when asked;
(g) the committed student notebooks are what `exercises build` makes; the build writes all or
    nothing and never over an edited copy.
"""

import ast
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from tests.exercise_mutants import RIGHT, WRONG
from tests.test_attacks import write_notebook
from tinytransformer.commands.exercises import main as exercises_main
from tinytransformer.exercises import EXERCISES, check, hint
from tinytransformer.exercises import checking as checking_module
from tinytransformer.exercises.checking import case_rng, run_check, watch
from tinytransformer.exercises.grading import grade_class
from tinytransformer.exercises.judging import STATUSES, judge
from tinytransformer.exercises.monitor import Outcome
from tinytransformer.exercises.notebooks import (
    BEGIN,
    MANIFEST,
    STUB,
    BuildConflict,
    build_students,
    exercises_in,
    notebook_text,
    read_notebook,
    stale_students,
    strip_solutions,
    student_path,
    teacher_notebooks,
)
from tinytransformer.exercises.wire import CODEC, CharVocab, FileBytes, GPTWeights

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHECK_CALL = re.compile(r"""check\(\s*["']([\d.]+)["']\s*,\s*(\w+)\s*\)""")
SEEDS = range(8)  # each right answer is checked on this many seeds' random cases


def python_lines(source):
    """A cell's source without IPython's %magic and !shell lines, which are not Python."""
    lines = source.splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def solution_cells():
    """exercise id -> (the import lines of the notebook before it, the solution cell's source,
    the function's name), from the teacher notebooks."""
    found = {}
    for path in teacher_notebooks(NOTEBOOKS):
        imports, solution = [], None
        for cell in read_notebook(path)["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = python_lines(cell["source"])
            tree = ast.parse(source)
            imports += [
                ast.unparse(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
            ]
            if BEGIN in source:
                solution = source
            for exercise_id, name in CHECK_CALL.findall(cell["source"]):
                found[exercise_id] = (list(imports), solution, name)
    return found


SOLUTION_CELLS = solution_cells()


def teachers_solutions():
    """exercise id -> the teacher's function, each run with the imports before it."""
    functions = {}
    for exercise_id, (imports, source, name) in SOLUTION_CELLS.items():
        namespace = {}
        exec(compile("\n".join([*imports, source]), f"solution {exercise_id}", "exec"), namespace)
        functions[exercise_id] = namespace[name]
    return functions


SOLUTIONS = teachers_solutions()


@pytest.fixture(scope="module")
def class_grades(tmp_path_factory):
    """One grading run for the whole module: a notebook of every teacher solution (imports,
    solution cells, check cells), then each student notebook's exercise cells."""
    folder = tmp_path_factory.mktemp("graded")
    imports = sorted({line for imports, _, _ in SOLUTION_CELLS.values() for line in imports})
    cells = ["\n".join(imports)]
    for exercise_id, (_, source, name) in SOLUTION_CELLS.items():
        cells += [source, f"check({exercise_id!r}, {name})"]
    solutions = write_notebook(folder / "solutions.ipynb", cells)
    (folder / "students").mkdir()
    students = [
        write_notebook(folder / "students" / t.name, exercise_cells(student_path(t)))
        for t in teacher_notebooks(NOTEBOOKS)
    ]
    grades = grade_class([solutions, *students], timeout=300)
    return {g.path.name if g.path != solutions else "solutions": g for g in grades}


def exercise_cells(student):
    """What of a committed student notebook its exercises need, as the cells of a notebook: the
    import lines of all its cells, then, in order, every cell holding a stub or a check() call.

    CI runs every teacher notebook whole (--nbmake); the student copies differ from them only in
    these cells, so grading these is what runs each copy's "not done" path, at the cost of a
    kernel start instead of a second run of each lesson."""
    imports, cells = [], []
    for cell in read_notebook(student)["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse(python_lines(cell["source"]))
        imports += [ast.unparse(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        if STUB in cell["source"] or CHECK_CALL.search(cell["source"]):
            cells.append(python_lines(cell["source"]))
    return ["\n".join(dict.fromkeys(imports)), *cells]


# --- (a) the teacher's solutions pass -------------------------------------------------------------


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_each_check_passes_the_teachers_solution(exercise_id):
    assert exercise_id in SOLUTIONS, f"no teacher notebook checks exercise {exercise_id}"
    result = check(exercise_id, SOLUTIONS[exercise_id])
    assert result.status == "passed", result.message
    assert result.passed and result.message.startswith(f"PASS {exercise_id}")


def test_the_grader_passes_every_teachers_solution(class_grades):
    grade = class_grades["solutions"]
    assert set(grade.statuses) == set(EXERCISES), grade.statuses
    failed = {i: grade.messages[i] for i, s in grade.statuses.items() if s != "passed"}
    assert failed == {} and grade.problem == ""
    assert grade.n_passed == len(EXERCISES)


# --- (b) the student notebooks run in the grader, every exercise "not done" -----------------------


@pytest.mark.parametrize("teacher", teacher_notebooks(NOTEBOOKS), ids=lambda p: p.name)
def test_the_student_notebook_runs_with_every_exercise_not_done(teacher, class_grades):
    grade = class_grades[teacher.name]
    expected = exercises_in(read_notebook(teacher))
    chapter = {EXERCISES[i].chapter for i in expected}
    assert grade.problem == ""
    assert sorted(grade.statuses) == sorted(i for i in EXERCISES if EXERCISES[i].chapter in chapter)
    assert set(expected) <= set(grade.statuses)
    assert set(grade.statuses.values()) == {"not done"}, grade.messages


# --- (c) wrong answers are rejected and named; right answers pass ---------------------------------

WRONG_CASES = [(i, fn, m) for i, items in WRONG.items() for fn, m in items]
NAMED = {fn.__name__: fn for _, fn, _ in WRONG_CASES}
RIGHT_CASES = [(i, fn) for i, fns in RIGHT.items() for fn in fns]


def test_there_are_dozens_of_wrong_answers_and_every_exercise_has_its_share():
    assert len(WRONG_CASES) >= 100
    assert set(WRONG) == set(EXERCISES) == set(RIGHT)
    for exercise_id, items in WRONG.items():
        assert len(items) >= 5 and sum(m is not None for _, m in items) >= 2, exercise_id


@pytest.mark.parametrize(
    ("exercise_id", "wrong", "mistake"),
    WRONG_CASES,
    ids=[f"{i}-{fn.__name__}" for i, fn, _ in WRONG_CASES],
)
def test_a_wrong_answer_is_rejected_and_its_mistake_named(exercise_id, wrong, mistake):
    result = check(exercise_id, wrong)
    # rejected: a wrong number ("failed"), or a crash on an edge case ("error")
    assert result.status in ("failed", "error") and not result.passed, result.message
    if mistake is not None:
        assert result.status == "failed" and mistake in result.mistake, result.message
        assert f"This is a known mistake: {result.mistake}." in result.message


@pytest.mark.parametrize(
    ("exercise_id", "right"), RIGHT_CASES, ids=[f"{i}-{fn.__name__}" for i, fn in RIGHT_CASES]
)
def test_a_right_answer_written_another_way_passes_on_every_seed(exercise_id, right, monkeypatch):
    for seed in SEEDS:
        monkeypatch.setattr(checking_module, "CHECK_SEED", seed)
        result = check(exercise_id, right)
        assert result.passed, f"seed {seed}: {result.message}"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_teachers_solution_passes_on_every_seed(exercise_id, monkeypatch):
    for seed in SEEDS:
        monkeypatch.setattr(checking_module, "CHECK_SEED", seed)
        result = check(exercise_id, SOLUTIONS[exercise_id])
        assert result.passed, f"seed {seed}: {result.message}"


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_known_mistake_is_rejected_and_named(exercise_id):
    """The package's own wrong answers are library code, so they are checked unwatched."""
    ex = EXERCISES[exercise_id]
    assert len(ex.mistakes) >= 2
    for mistake in ex.mistakes:
        result = run_check(ex, mistake.answer)
        assert result.status == "failed", (mistake.name, result.message)
        assert result.mistake == mistake.name, result.message


# --- (d) the library's own answer is not passed ---------------------------------------------------


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_librarys_reference_is_reported_as_the_librarys_answer(exercise_id):
    ex = EXERCISES[exercise_id]
    result = check(exercise_id, ex.reference)
    assert result.status == "failed" and "uses the library's answer" in result.message
    assert run_check(ex, ex.reference).passed  # and is right, when nobody watches
    if ex.numerical is not None:
        assert "against finite differences" in run_check(ex, ex.reference).message


def test_calling_the_op_under_any_name_is_the_librarys_answer():
    from tinytransformer import ops
    from tinytransformer.ops import softmax as module

    alias = ops.softmax_forward
    for answer in (
        lambda x: ops.softmax_forward(x)[0],
        lambda x: alias(x)[0],
        lambda x: getattr(module, "softmax_" + "forward")(x)[0],
        lambda x: list(map(alias, [x]))[0][0],  # called from C
        EXERCISES["4.1.1"].reference,
    ):
        result = check("4.1.1", answer)
        assert "uses the library's answer" in result.message, result.message
        assert "softmax" in result.message


def test_a_copy_of_the_librarys_source_is_the_librarys_answer():
    import inspect

    from tinytransformer.ops import softmax as module

    namespace = {"np": np, "check_float": lambda name, x: None}
    exec(inspect.getsource(module.softmax_forward), namespace)  # the op, pasted elsewhere
    copied = namespace["softmax_forward"]
    result = check("4.1.1", lambda x: copied(x)[0])
    assert "uses the library's answer" in result.message and "a copy" in result.message


def test_what_an_exercise_may_use_is_allowed_and_nothing_else():
    """4.1.3 may call the library's softmax (it asks for attention); 4.2.1 may not (it asks for
    log-sum-exp); 5.1 may run the model but not its generation loop."""
    assert check("4.1.3", RIGHT["4.1.3"][2]).passed
    from tinytransformer import ops

    def with_library_softmax(logits, targets):
        keep = targets != -100
        p = ops.softmax_forward(logits[keep])[0]
        return -np.log(p[np.arange(keep.sum()), targets[keep]]).mean()

    assert "uses the library's answer" in check("4.2.1", with_library_softmax).message
    result = check("5.1", NAMED["greedy_uses_generate"])
    assert "GPT.generate" in result.message and "it may call tinytransformer.models.gpt.GPT" in (
        result.message
    )


# --- (e) cases cross processes as plain data; random cases follow their seed ----------------------


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_case_crosses_the_wire_and_comes_back_equal(exercise_id, tmp_path):
    ex = EXERCISES[exercise_id]
    for case in ex.cases(case_rng(3, exercise_id)):
        back = CODEC.decode(CODEC.encode(case.inputs))
        assert list(back) == list(case.inputs)
        for name, value in case.inputs.items():
            assert same_value(back[name], value), (case.name, name)
        built = CODEC.build(back, tmp_path)
        assert outcome_equal(
            ex.reference(*built.values()),
            ex.reference(*CODEC.build(case.inputs, tmp_path).values()),
        )


def same_value(a, b):
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, True)
    if isinstance(b, GPTWeights):
        return a.config == b.config and all(
            np.array_equal(a.weights[k], v) for k, v in b.weights.items()
        )
    return type(a) is type(b) and a == b


def plain_equal(a, b):
    """Equal values of the same types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray | np.generic):
        return a.dtype == b.dtype and np.array_equal(a, b, True)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(plain_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(plain_equal(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)


def outcome_equal(a, b):
    if isinstance(a, tuple):
        return all(outcome_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray | np.generic):
        return np.array_equal(a, b, True)
    return a == b


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_random_cases_follow_their_seed(exercise_id):
    ex = EXERCISES[exercise_id]
    one, again, other = (ex.cases(case_rng(s, exercise_id)) for s in (5, 5, 6))
    encode = lambda cases: [CODEC.encode(c.inputs) for c in cases]  # noqa: E731
    assert encode(one) == encode(again)
    assert len(ex.edge_cases()) >= 1
    if ex.random_cases(case_rng(0, exercise_id)):  # 5.3 takes no input: one fixed case only
        assert encode(one) != encode(other)


def test_the_safetensors_files_of_7_2_are_what_the_safetensors_library_reads(tmp_path):
    from safetensors.numpy import load

    names = {"F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32", "U8": "uint8"}
    for case in EXERCISES["7.2"].cases(case_rng(1, "7.2")):
        tensors = load(case.inputs["path"].data)  # the library parses our bytes
        path = CODEC.build(case.inputs, tmp_path)["path"]
        header = EXERCISES["7.2"].reference(path)
        assert {k: (names[d], s) for k, (d, s) in header.items()} == {
            k: (str(t.dtype), t.shape) for k, t in tensors.items()
        }


def test_the_wire_keeps_types_layouts_and_refuses_what_it_cannot_send():
    a = np.arange(12.0).reshape(3, 4)
    values = [
        None,
        True,
        3,
        2.5,
        float("nan"),
        "é",
        b"xy",
        [1, (2, 3)],
        {1: "a", (1, 2): [a]},
        np.float32(1.5),
        np.int64(3),
        np.zeros((0, 3)),
        CharVocab("ab"),
        FileBytes("f.bin", b"\0\1"),
    ]
    for v in values:
        back = CODEC.decode(CODEC.encode(v))
        assert plain_equal(back, v), v
    for view in (a, a.T, a.T.copy(order="F"), a[:, ::2]):
        back = CODEC.decode(CODEC.encode(view))
        assert np.array_equal(back, view)
        for flag in ("C_CONTIGUOUS", "F_CONTIGUOUS", "OWNDATA"):
            assert back.flags[flag] == view.flags[flag], flag

    class Sneaky(np.ndarray):
        pass

    for unsendable in (object(), np.array([object()]), a.view(Sneaky), {1, 2}, lambda: 0):
        with pytest.raises(ValueError, match="cannot be sent"):
            CODEC.encode(unsendable)


# --- (f) what the messages say --------------------------------------------------------------------


def test_check_statuses_for_a_stub_a_crash_and_a_non_function():
    def stub(x):
        raise NotImplementedError

    assert check("4.1.1", stub).status == "not done"
    crash = check("4.1.1", lambda x: x[99])
    assert (
        crash.status == "error" and "IndexError" in crash.message and "a row of 5" in crash.message
    )
    assert check("4.1.1", "softmax").status == "error"
    # the ids in catalog order, which starts with the earliest chapter that has exercises
    with pytest.raises(KeyError, match=r"exercise_id: expected one of [0-9.]+, .*\b4\.1\.1, "):
        check("9.9.9", stub)
    assert {check("4.1.1", f).status for f in (stub, lambda x: x)} <= set(STATUSES)


def test_a_crash_names_the_line_it_came_from():
    def softmax(x):
        e = np.exp(x)
        return e / e.sum(axis=-1)

    result = check("4.1.1", softmax)
    assert result.status == "error"
    assert "(line 3 of softmax: return e / e.sum(axis=-1))" in result.message


def test_a_failure_names_the_case_the_inputs_enough_digits_and_where():
    def off_by_a_hair(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) * (1 + 3e-8)

    result = check("4.1.1", off_by_a_hair)
    assert result.status == "failed" and "case 'a row of 5' (x (1, 5))" in result.message
    expected, got = re.search(
        r"expected ([\d.]+), got ([\d.]+) at index \(0, \d\)", result.message
    ).groups()
    assert expected != got and len(expected) >= 9  # 6 digits would print the same number twice
    assert "(the largest error); relative error 3.0e-08 (accepted: 1e-08)" in result.message


def test_the_first_hint_is_a_property_and_the_formula_comes_only_when_asked():
    def unnormalised_by_row_total(x):  # right per element, wrong total: rows sum to 1.5
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return 1.5 * e / e.sum(axis=-1, keepdims=True)

    first = check("4.1.1", unnormalised_by_row_total)
    assert "every row sums to 1 (row (0,) sums to 1.5)" in first.message
    assert EXERCISES["4.1.1"].formula not in first.message
    assert "check('4.1.1', softmax, hint=True)" in first.message
    asked = check("4.1.1", unnormalised_by_row_total, hint=True)
    assert f"Formula: {EXERCISES['4.1.1'].formula}" in asked.message
    assert EXERCISES["4.1.1"].formula in str(hint("4.1.1")) and repr(hint("4.1.1")).startswith(
        "4.1.1"
    )
    for ex in EXERCISES.values():  # every exercise has a formula, and properties to hint with
        assert ex.formula and ex.properties, ex.id
        assert ex.formula.lower() not in " ".join(p.name.lower() for p in ex.properties)


def test_float32_is_told_as_float32():
    result = check("4.1.1", NAMED["softmax_in_float32"])
    assert "p: expected float64, got float32" in result.message
    assert "float32 arithmetic? The checks use float64" in result.message
    assert result.mistake == ""  # not "no max subtraction", nor any other mistake
    converted = check("4.2.2", NAMED["cross_entropy_backward_float32"])  # float32, then float64
    assert "is a float32 number" in converted.message and converted.mistake == ""


def test_a_mistake_is_named_only_where_it_differs_from_the_right_answer():
    """A float32 answer was told "no max subtraction", "the causal mask applied even with
    causal=False" and "divided by every row, ignored targets included" on cases where those
    mistakes give the right answer; now none is named."""

    def attention32(q, k, v, causal):
        return RIGHT["4.1.3"][1](
            q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), causal
        )

    def backward32(logits, targets):
        return RIGHT["4.2.2"][0](logits.astype(np.float32), targets).astype(np.float64) * (1 + 1e-7)

    for exercise_id, answer in (("4.1.3", attention32), ("4.2.2", backward32)):
        result = check(exercise_id, answer)
        assert result.status == "failed" and result.mistake == "", result.message
    # a top-p answer keeping one token too many is not "the cumulative sum before sorting"
    assert check("5.2", NAMED["top_p_one_too_many"]).mistake == "one token past the nucleus kept"


def test_swapped_outputs_are_recognised():
    swapped = check("4.1.4", NAMED["attention_backward_swapped"])
    assert "Your outputs are (dk, dq, dv), in that order: return (dq, dk, dv)." in swapped.message
    ln = check("4.1.5", NAMED["layernorm_backward_swapped"])
    assert "Your outputs are (dx, db, dw), in that order: return (dx, dw, db)." in ln.message


def test_messages_show_objects_readably_and_a_list_as_one_output():
    result = check("5.1", lambda model, idx, max_new_tokens: idx[:, :1])
    assert "model GPT(vocab 12, block_size 8, 1 layer, 2 heads, n_embd 8)" in result.message
    assert "object at 0x" not in result.message
    text = check("5.4", lambda model, tokenizer, prompt, n: prompt)
    assert "tokenizer CharTokenizer(' abcdefgh')" in text.message and "0x" not in text.message
    table = check("5.3", lambda: list(range(256)))
    assert (
        "table: expected a dict, got list" in table.message
        and "256" not in table.message.split("\n")[1]
    )


def test_a_wrong_table_names_its_key_and_a_wrong_text_where_it_parts():
    table = dict(EXERCISES["5.3"].reference())
    table[200] = "x"
    wrong = check("5.3", lambda: table)
    assert wrong.status == "failed" and "table: at key 200: expected 'È', got 'x'" in wrong.message
    del table[5]
    assert "table: key 5 missing (expected 'ą')" in check("5.3", lambda: table).message
    ids = check("5.4", lambda model, tokenizer, prompt, n: np.array([1, 2]))
    assert ids.status == "failed" and "text: expected a str, got ndarray" in ids.message


def test_an_answer_that_writes_into_its_input_fails():
    result = check("4.1.1", NAMED["softmax_in_place"])
    assert result.status == "failed" and "changed its input 'x'" in result.message


def test_a_fortran_copy_and_a_transposed_view_are_told_apart():
    view = check("7.1", lambda weight: weight.T)
    fortran = check("7.1", lambda weight: weight.T.copy(order="F"))
    assert "a transposed view" in view.message and "Fortran" not in view.message
    assert "Fortran (column-major) order" in fortran.message and "view" not in fortran.message


def test_judge_reports_each_kind_of_outcome():
    ex, cases = EXERCISES["4.2.1"], EXERCISES["4.2.1"].cases(case_rng(0, "4.2.1"))
    said = {
        "library": judge(
            ex, cases, [Outcome("library", None, "it called tinytransformer/x.py: f")]
        ),
        "stopped": judge(ex, cases, [Outcome("stopped", None, "it took longer than allowed")]),
        "short": judge(ex, cases, [Outcome("returned", np.float64(1.4262695671247108))]),
    }
    assert (
        said["library"].status == "failed"
        and "it called tinytransformer/x.py: f" in said["library"].message
    )
    assert said["stopped"].status == "error" and "took longer" in said["stopped"].message
    assert said["short"].status == "not run" and "1 of 12" in said["short"].message


# --- (g) the student notebooks and their build ----------------------------------------------------


def test_the_committed_student_notebooks_equal_fresh_builds():
    assert teacher_notebooks(NOTEBOOKS), "no teacher notebooks found"
    assert stale_students(NOTEBOOKS) == []
    manifest = json.loads((NOTEBOOKS / "student" / MANIFEST).read_text())
    assert sorted(manifest["copies"]) == sorted(p.name for p in teacher_notebooks(NOTEBOOKS))


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


def teacher(folder, name, body="return x"):
    cell = f"def f(x):\n    ### BEGIN SOLUTION\n    {body}\n    ### END SOLUTION"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cell)]
    nbformat.write(nb, folder / name)


def test_exercises_build_writes_all_or_nothing_and_never_over_an_edited_copy(tmp_path, capsys):
    teacher(tmp_path, "9.8-one.ipynb")
    teacher(tmp_path, "9.9-two.ipynb")
    with pytest.raises(SystemExit):  # no student copy yet
        exercises_main(["build", "--check", "--notebooks", str(tmp_path)])
    exercises_main(["build", "--notebooks", str(tmp_path)])
    exercises_main(["build", "--check", "--notebooks", str(tmp_path)])
    one, two = tmp_path / "student" / "9.8-one.ipynb", tmp_path / "student" / "9.9-two.ipynb"
    assert "raise NotImplementedError" in one.read_text() and "return x" not in one.read_text()
    assert "current" in capsys.readouterr().out
    # a broken teacher notebook: nothing is written, not even the other's copy
    teacher(tmp_path, "9.8-one.ipynb", body="return 2 * x")
    (tmp_path / "9.9-two.ipynb").write_text(
        (tmp_path / "9.9-two.ipynb").read_text().replace("### END SOLUTION", "")
    )
    before = one.read_bytes()
    with pytest.raises(SystemExit, match="without an ### END SOLUTION"):
        exercises_main(["build", "--notebooks", str(tmp_path)])
    assert one.read_bytes() == before
    teacher(tmp_path, "9.9-two.ipynb")
    # an edited student copy is refused, by name, and nothing is written
    two.write_text(two.read_text().replace("your code here", "my answer"))
    edited = two.read_bytes()
    with pytest.raises(SystemExit, match=r"9.9-two.ipynb: changed since `exercises build`"):
        exercises_main(["build", "--notebooks", str(tmp_path)])
    assert two.read_bytes() == edited and one.read_bytes() == before
    with pytest.raises(BuildConflict) as conflict:
        build_students(tmp_path)
    assert conflict.value.paths == [two]
    exercises_main(["build", "--overwrite", "--notebooks", str(tmp_path)])
    assert "my answer" not in two.read_text()
    exercises_main(["build", "--check", "--notebooks", str(tmp_path)])


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
    for text, message in [
        ("{not json", "expected a notebook \\(JSON\\)"),
        ('{"cells": []}', "expected a version-4 Jupyter notebook"),
        ('{"nbformat": 4, "cells": [1]}', "expected a version-4"),
    ]:
        (tmp_path / "bad.ipynb").write_text(text)
        with pytest.raises(ValueError, match=f"bad.ipynb: {message}"):
            read_notebook(tmp_path / "bad.ipynb")


def test_watch_is_built_from_what_each_exercise_declares():
    for exercise_id, ex in EXERCISES.items():
        w = watch(exercise_id)
        assert ex.reference.__code__ in w.library, exercise_id
        assert not (w.may_use & w.library)
