"""`check(exercise_id, fn)`: run a student's function on the exercise's cases against the library,
and say what happened in a way a student can act on.

    result = check("4.1.3", attention)
    result.status     # "passed", "failed", "not done" (fn raises NotImplementedError), "error"
    result.passed     # True only for "passed"
    result.message    # PASS with the measured error, or the first failing case: its shapes,
                      # expected vs got, the largest error, the known mistake it matches, a hint

A result shows itself in a notebook (green or red) and prints as plain text elsewhere. When the
environment variable TINYTRANSFORMER_GRADE_LOG names a file, every result is also appended to it
as one JSON line: that is how `python -m tinytransformer grade` collects a notebook's results.
"""

import copy
import html
import json
import os
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

from tinytransformer.exercises.catalog import EXERCISES
from tinytransformer.gradcheck import rel_error

GRADE_LOG = "TINYTRANSFORMER_GRADE_LOG"
GRADIENT_TOLERANCE = 1e-6  # against finite differences, as the library's own gradient checks


@dataclass
class Result:
    """What check() found. status is one of "passed", "failed", "not done", "error"."""

    exercise_id: str
    status: str
    message: str
    max_error: float = None  # the worst relative error against the reference, when measured

    @property
    def passed(self):
        return self.status == "passed"

    def __str__(self):
        return self.message

    def __repr__(self):
        return self.message

    def _repr_html_(self):
        colour = {"passed": "#2e7d32", "not done": "#757575"}.get(self.status, "#c62828")
        return (
            f'<div style="border-left: 6px solid {colour}; padding: 4px 10px">'
            f"<pre style='margin: 0; white-space: pre-wrap'>{html.escape(self.message)}</pre></div>"
        )


def check(exercise_id, fn):
    """Check `fn` against exercise `exercise_id` (see the module docstring) -> Result."""
    if exercise_id not in EXERCISES:
        known = ", ".join(sorted(EXERCISES))
        raise KeyError(f"exercise_id: expected one of {known}, got {exercise_id!r}")
    result = _run(EXERCISES[exercise_id], fn)
    _log(result)
    return result


def _run(ex, fn):
    head = f"{ex.id} {ex.signature}"
    if not callable(fn):
        return Result(ex.id, "error", f"ERROR {head}: expected a function, got {type(fn).__name__}")
    worst, worst_numeric = 0.0, 0.0
    cases = ex.cases()
    for case in cases:
        inputs = copy.deepcopy(case.inputs)
        try:
            got = _quiet(fn, inputs)
        except NotImplementedError:
            return Result(
                ex.id, "not done", f"NOT DONE {head}: replace `raise NotImplementedError`"
            )
        except Exception as e:
            where = traceback.extract_tb(e.__traceback__)[-1]
            return Result(
                ex.id,
                "error",
                f"ERROR {head} on case {case.name!r} ({_shapes(case.inputs)}):\n"
                f"  {type(e).__name__}: {e}  (line {where.lineno}: {where.line})\n"
                f"Hint: {ex.hint}",
            )
        changed = [n for n in inputs if not _same(inputs[n], case.inputs[n])]
        if changed:
            return Result(
                ex.id,
                "failed",
                f"FAIL {head} on case {case.name!r}: it changed its input {changed[0]!r}; "
                "compute new arrays instead of writing into the arguments.",
            )
        want = _as_tuple(ex.reference(*copy.deepcopy(case.inputs).values()))
        problem, error = _compare(ex, want, got)
        if problem is None and ex.numerical is not None:
            numeric = ex.numerical(case)
            worst_numeric = max(worst_numeric, max(map(rel_error, _as_tuple(got), numeric)))
        if problem is None and ex.numerical is not None and worst_numeric > GRADIENT_TOLERANCE:
            problem = (
                f"  the answer agrees with the library but not with finite differences (relative "
                f"error {worst_numeric:.1e}, accepted {GRADIENT_TOLERANCE:.0e})"
            )
        if problem is not None:
            mistake = _known_mistake(ex, cases, fn, case, got)
            lines = [f"FAIL {head} on case {case.name!r} ({_shapes(case.inputs)}):", problem]
            if mistake is not None:
                lines.append(f"This is a known mistake: {mistake.name}. {mistake.advice}")
            else:
                lines.append(f"Hint: {ex.hint}")
            return Result(ex.id, "failed", "\n".join(lines), error)
        worst = max(worst, error)
    gradient = ""
    if ex.numerical is not None:
        gradient = f", {worst_numeric:.1e} against finite differences"
    return Result(
        ex.id,
        "passed",
        f"PASS {head}: {len(cases)} cases; worst relative error {worst:.1e} against the "
        f"library{gradient}",
        worst,
    )


def _quiet(fn, inputs):
    """Call fn with the inputs in the signature's order (a student may name the parameters
    differently), with NumPy's overflow warnings silenced: a NaN or inf in the answer is
    reported by the comparison, with the case that produced it."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*inputs.values())


def _compare(ex, want, got):
    """-> (None, worst relative error) if got matches want, else (a description, error)."""
    got = _as_tuple(got)
    if len(got) != len(want):
        names = ", ".join(ex.outputs)
        return f"  expected {len(want)} outputs ({names}), got {len(got)}", None
    worst = 0.0
    for name, w, g in zip(ex.outputs, want, got):
        if not isinstance(w, np.ndarray):  # a text, a table, a header: equal or not
            if not isinstance(g, type(w)):  # (an array would not even compare with == to a text)
                return f"  {name}: expected a {type(w).__name__}, got {type(g).__name__}", None
            if g != w:
                return f"  {name}: {_difference(w, g)}", None
            continue
        g = np.asarray(g) if np.isscalar(g) or isinstance(g, np.generic) else g
        if not isinstance(g, np.ndarray):
            return f"  {name}: expected a numpy array, got {type(g).__name__}", None
        if g.shape != w.shape:
            return f"  {name}: expected shape {w.shape}, got {g.shape}", None
        wrong = (np.isfinite(g) != np.isfinite(w)) | (~np.isfinite(w) & (g != w))
        if wrong.any():  # a nan or inf where the answer has a number, or the other way round
            bad = tuple(int(i) for i in np.argwhere(wrong)[0])
            at = f" at index {bad}" if g.ndim else ""
            return f"  {name}: expected {w[bad]}, got {g[bad]}{at}", None
        finite = np.isfinite(w)  # -inf where a filter removes a token: compared above
        error = rel_error(g[finite], w[finite])
        if error > ex.tolerance:
            gap = np.where(finite, np.abs(g - w), 0.0)
            i = np.unravel_index(np.argmax(gap), w.shape) if w.ndim else ()
            at = f" at index {tuple(int(j) for j in i)}" if w.ndim else ""
            return (
                f"  {name}: expected {w[i]:.6g}, got {g[i]:.6g}{at}; relative error "
                f"{error:.1e} (accepted: {ex.tolerance:.0e})",
                error,
            )
        worst = max(worst, error)
    if ex.verify is not None:
        return ex.verify(got), worst
    return None, worst


def _show(value, limit=200):
    """A value for a message, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def _difference(want, got):
    """'expected ..., got ...' for two unequal values; for two dicts, at the first key where
    they differ (a table of 256 entries is too long to compare by eye)."""
    if isinstance(want, dict):
        for key in [*want, *(k for k in got if k not in want)]:
            if key not in got:
                return f"key {key!r} missing (expected {_show(want[key])})"
            if key not in want:
                return f"key {key!r} not expected (got {_show(got[key])})"
            if got[key] != want[key]:
                return f"at key {key!r}: expected {_show(want[key])}, got {_show(got[key])}"
    return f"expected {_show(want)}, got {_show(got)}"


def _known_mistake(ex, cases, fn, failing, got):
    """The known mistake the student's answer matches: of those that equal it on the failing
    case, the one that equals it on the most cases (two mistakes can coincide on one case: on a
    single row, a sum over the wrong axis is the diagonal of the Jacobian)."""
    candidates = [m for m in ex.mistakes if _matches(m, failing, got)]
    if len(candidates) < 2:
        return candidates[0] if candidates else None

    def agreement(mistake):
        score = 0
        for case in cases:
            try:
                answer = _quiet(fn, copy.deepcopy(case.inputs))
            except Exception:
                continue
            score += _matches(mistake, case, answer)
        return score

    return max(candidates, key=agreement)  # the first listed wins a tie


def _matches(mistake, case, got):
    try:
        theirs = _as_tuple(_quiet(mistake.answer, copy.deepcopy(case.inputs)))
    except Exception:
        return False
    got = _as_tuple(got)
    return len(theirs) == len(got) and all(_close(a, b) for a, b in zip(theirs, got))


def _close(a, b):
    if not (isinstance(a, np.ndarray | np.generic | float | int) and
            isinstance(b, np.ndarray | np.generic | float | int)):  # fmt: skip
        return type(a) is type(b) and a == b
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(a, b, rtol=1e-6, atol=1e-12, equal_nan=True))


def _same(a, b):
    """Whether an input is as it was. Arrays and plain values are compared; an object (a model,
    a tokenizer) is the check's own copy, and what it holds is the function's to use."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, True)
    if isinstance(a, int | float | str | bool | bytes | tuple | type(None)):
        return a == b
    return True


def _as_tuple(x):
    return tuple(x) if isinstance(x, tuple | list) else (x,)


def _shapes(inputs):
    """'q (2, 3, 5, 4), causal=True': what a case is made of, for a message."""
    parts = []
    for name, value in inputs.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{name} {value.shape}")
        else:
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)


def _log(result):
    path = os.environ.get(GRADE_LOG)
    if path:
        row = {"exercise": result.exercise_id, "status": result.status, "message": result.message}
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
