"""Judging an answer: compare what it returned on each case with the library's reference, and
say what is wrong in a way a student can act on. The notebook's check() and the grader judge
through the same function; only where the answer ran differs (the notebook's own process, or the
grader's sandbox, whose outcomes cross back as plain data).

    result = judge(exercise, cases, outcomes)     # outcomes: one monitor.Outcome per case
    result.status     # "passed", "failed", "not done" (NotImplementedError), "error"
    result.message    # PASS with the worst error, or the first failing case: its inputs,
                      # expected vs got, the largest error and where, then what to look at

What a failure message says, in this order of preference:
- a known mistake, when the answer matches it on a case where it differs from the right answer;
- outputs in the wrong order ("your dk matches dq");
- float32 arithmetic, when the answer is float32 or its error is float32's rounding;
- the first property every right answer has that this one breaks ("every row sums to 1");
- otherwise, how to ask for the formula. The formula itself only on request (hint=True).
"""

import html
import math
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np

from tinytransformer.exercises.spec import Case
from tinytransformer.exercises.wire import CODEC, CharVocab, FileBytes, GPTWeights, SublayerWeights
from tinytransformer.gradcheck import rel_error

STATUSES = ("passed", "failed", "not done", "error", "not run")
GRADIENT_TOLERANCE = 1e-6  # against finite differences, as the library's own gradient checks
FLOAT32_ERROR = 5e-7  # below this, a float64 answer's error may be float32 rounding
FLOOR = 1e-12  # the least magnitude an error is measured against (gradcheck.rel_error's)


@dataclass
class Result:
    """What judging found. status is one of STATUSES; mistake names the known mistake, if any."""

    exercise_id: str
    status: str
    message: str
    max_error: float = None  # the worst relative error against the reference, when measured
    mistake: str = ""

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


def judge(ex, cases, outcomes, *, hint=False, source=None):
    """-> Result for the outcomes of an answer on `cases` (one monitor.Outcome each, in order).

    hint: add the formula to a failure. source: the answer function's source lines, to quote
    the line an exception came from."""
    with tempfile.TemporaryDirectory(prefix="tinytransformer-judge-") as folder:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # the reference's and the mistakes' overflows
            return _Judgement(ex, cases, outcomes, folder, hint, source).result()


class _Judgement:
    """One judge() call: the cases' built inputs and reference outputs, made when first needed."""

    def __init__(self, ex, cases, outcomes, folder, hint, source):
        self.ex, self.cases, self.outcomes = ex, cases, outcomes
        self.folder, self.hint, self.source = folder, hint, source
        self.head = f"{ex.id} {ex.signature}"
        self._wants = {}

    def built(self, i):
        return CODEC.build(self.cases[i].inputs, self.folder)

    def floors(self, i):
        if self.ex.floor is None:
            return None
        floor = self.ex.floor(self.built(i))
        return floor if isinstance(floor, tuple) else (floor,) * len(self.ex.outputs)

    def compare(self, i, want, got):
        return compare(self.ex, want, got, self.floors(i))

    def want(self, i):
        if i not in self._wants:
            self._wants[i] = outputs_of(self.ex, self.ex.reference(*self.built(i).values()))[0]
        return self._wants[i]

    def result(self):
        ex, worst, worst_numeric = self.ex, 0.0, 0.0
        for i, (case, outcome) in enumerate(zip(self.cases, self.outcomes)):
            where = f"on case {case.name!r} ({describe_inputs(case.inputs)})"
            if outcome.kind == "not done":
                message = (
                    f"NOT DONE {self.head}: replace `raise NotImplementedError` with your code"
                )
                return Result(ex.id, "not done", message)
            if outcome.kind == "library":
                allowed = ""
                if ex.may_use:
                    allowed = " (it may call " + ", ".join(ex.may_use) + ")"
                return Result(
                    ex.id,
                    "failed",
                    f"FAIL {self.head}: uses the library's answer: {outcome.detail}. "
                    f"This exercise asks you to write it yourself{allowed}.",
                )
            if outcome.kind == "stopped":
                return Result(ex.id, "error", f"ERROR {self.head} {where}: {outcome.detail}")
            if outcome.kind == "raised":
                return Result(ex.id, "error", self.raised(outcome, where, i))
            if outcome.detail:  # returned, having written into an input
                return Result(
                    ex.id,
                    "failed",
                    f"FAIL {self.head} {where}: it changed its input {outcome.detail!r}; "
                    "compute new arrays instead of writing into the arguments.",
                )
            got, problem = outputs_of(ex, outcome.value)
            error = None
            if problem is None:
                problem, error = self.compare(i, self.want(i), got)
            if problem is None and ex.numerical is not None:
                numeric = ex.numerical(Case(case.name, self.built(i), case.source))
                if numeric is not None:  # None: a case finite differences cannot resolve
                    floors = self.floors(i) or [None] * len(got)
                    errors = [
                        rel_error(g, n, max(FLOOR, f or 0)) for g, n, f in zip(got, numeric, floors)
                    ]
                    worst_numeric = max(worst_numeric, *errors)
                if worst_numeric > GRADIENT_TOLERANCE:
                    problem = (
                        f"  the answer agrees with the library but not with finite differences "
                        f"(relative error {worst_numeric:.1e}, accepted {GRADIENT_TOLERANCE:.0e})"
                    )
            if problem is not None:
                return self.failed(i, where, problem, got, error)
            worst = max(worst, error)
        if len(self.outcomes) < len(self.cases):
            ran = f"{len(self.outcomes)} of {len(self.cases)}"
            message = f"NOT RUN {self.head}: the answer was not run on every case ({ran})"
            return Result(ex.id, "not run", message)
        gradient = ""
        if ex.numerical is not None:
            gradient = f", {worst_numeric:.1e} against finite differences"
        return Result(
            ex.id,
            "passed",
            f"PASS {self.head}: {len(self.cases)} cases; worst relative error {worst:.1e} against "
            f"the library{gradient}",
            worst,
        )

    def raised(self, outcome, where, i):
        line = ""
        if outcome.value:
            line = f" (line {outcome.value} of {self.ex.function}"
            text = self.source_line(outcome.value)
            line += f": {text})" if text else ")"
        return f"ERROR {self.head} {where}:\n  {outcome.detail}{line}\n{self.ask_for_hint()}"

    def source_line(self, number):
        if not self.source or not 0 < number <= len(self.source):
            return ""
        return self.source[number - 1].strip()

    def ask_for_hint(self, i=0):
        if self.hint:
            return f"Formula: {self.ex.formula}"
        before = "It passed the cases before this one: what does this one have that they lack? "
        return (
            f"{before if i else ''}For the formula, run "
            f"check({self.ex.id!r}, {self.ex.function}, hint=True)."
        )

    def failed(self, i, where, problem, got, error):
        ex = self.ex
        lines = [f"FAIL {self.head} {where}:", problem]
        mistake = self.known_mistake(i, got) if got is not None else None
        said = False
        if mistake is not None:
            lines.append(f"This is a known mistake: {mistake.name}. {mistake.advice}")
            said = True
        if got is not None and not said:
            swapped = swapped_outputs(ex, self.want(i), got, self.floors(i))
            if swapped:
                lines.append(swapped)
                said = True
        if got is not None:
            note = float32_note(ex, self.want(i), got, error)
            if note:
                lines.append(note)
                said = True
        if got is not None and not said:
            broken = self.broken_property(i, got)
            if broken:
                lines.append(broken)
        lines.append(self.ask_for_hint(i))
        return Result(ex.id, "failed", "\n".join(lines), error, mistake.name if mistake else "")

    def broken_property(self, i, got):
        for prop in self.ex.properties:
            try:
                where = prop.broken(self.built(i), got)
            except Exception:  # a property that cannot even be evaluated on these outputs
                continue
            if where:
                return (
                    f"Every right answer has this property; yours does not: {prop.name} ({where})."
                )
        return ""

    def mistake_output(self, mistake, i):
        try:
            return outputs_of(self.ex, mistake.answer(*self.built(i).values()))[0]
        except Exception:
            return None

    def names_mistake(self, mistake, i, got):
        """Whether `mistake` differs from the right answer on case i and the answer matches it."""
        theirs = self.mistake_output(mistake, i)
        if theirs is None or self.compare(i, self.want(i), theirs)[0] is None:
            return False  # the mistake gives the right answer here: it explains nothing
        return self.compare(i, theirs, got)[0] is None

    def known_mistake(self, i, got):
        """The first known mistake that differs from the right answer on the failing case and
        that the answer matches there and on every other case it answered (a mistake that only
        coincides with the answer on one case does not explain it: an ascending sort can keep
        the same tokens as one token too many on one row, and nowhere else)."""
        for mistake in self.ex.mistakes:
            if self.names_mistake(mistake, i, got) and self.matches_everywhere(mistake, i):
                return mistake
        return None

    def matches_everywhere(self, mistake, failing):
        for j, outcome in enumerate(self.outcomes):
            if j == failing or outcome.kind != "returned" or outcome.detail:
                continue
            theirs, problem = outputs_of(self.ex, outcome.value)
            mine = self.mistake_output(mistake, j)
            if problem is not None or mine is None or self.compare(j, mine, theirs)[0] is not None:
                return False
        return True


# --- comparing values ---------------------------------------------------------------------------


def outputs_of(ex, value):
    """-> (tuple of outputs, None) or (None, a problem): one value per name in ex.outputs. A
    single output is the value itself, whatever it is (a list is one output, not many)."""
    if len(ex.outputs) == 1:
        return (value,), None
    names = ", ".join(ex.outputs)
    if isinstance(value, tuple | list) and len(value) == len(ex.outputs):
        return tuple(value), None
    if isinstance(value, tuple | list):
        return None, f"  expected {len(ex.outputs)} outputs ({names}), got {len(value)}"
    return None, f"  expected {len(ex.outputs)} outputs ({names}), got one {type(value).__name__}"


def is_number(x):
    return isinstance(x, np.ndarray | np.generic | int | float) and not isinstance(x, bool)


def compare(ex, want, got, floors=None):
    """-> (None, worst relative error) if the outputs `got` match `want`, else (a problem, the
    error if one was measured). Non-finite entries must sit where want has them (NaN matches
    NaN: a mistake's output may hold NaN). floors: Exercise.floor of the case's inputs."""
    worst = 0.0
    floors = floors if floors is not None else [FLOOR] * len(ex.outputs)
    for name, w, g, floor in zip(ex.outputs, want, got, floors):
        problem, error = difference(name, w, g, ex.tolerance, floor)
        if problem is not None:
            return problem, error
        worst = max(worst, error)
    if ex.verify is not None:
        return ex.verify(got), worst
    return None, worst


def difference(name, w, g, tolerance, floor=None):
    """-> (None, relative error) or (a line saying how g differs from w, the error or None)."""
    if not is_number(w):  # a text, a table, a header: equal or not, and of the same type
        if type(g) is not type(w):
            return f"  {name}: expected a {type(w).__name__}, got {type(g).__name__}", None
        if g != w:
            return f"  {name}: {unequal(w, g)}", None
        return None, 0.0
    if isinstance(g, list | tuple):
        return f"  {name}: expected a numpy array, got a {type(g).__name__}", None
    if not is_number(g):
        return f"  {name}: expected a numpy array, got {type(g).__name__}", None
    w, g = np.asarray(w), np.asarray(g)
    if g.dtype.kind not in "biufc":
        return f"  {name}: expected numbers, got an array of {g.dtype}", None
    if w.dtype.kind in "iu" and g.dtype.kind not in "iu":
        return f"  {name}: expected integers (ids), got an array of {g.dtype}", None
    if w.dtype.kind == "f" and g.dtype.kind == "f" and g.dtype.itemsize < w.dtype.itemsize:
        return f"  {name}: expected {w.dtype}, got {g.dtype}", None
    if g.shape != w.shape:
        extra = " (the transpose?)" if g.shape == w.shape[::-1] and w.ndim == 2 else ""
        return f"  {name}: expected shape {w.shape}, got {g.shape}{extra}", None
    with np.errstate(all="ignore"):
        gf, wf = g.astype(np.complex128 if g.dtype.kind == "c" else np.float64), w
        same_nan = np.isnan(gf) & np.isnan(wf)
        wrong = (np.isfinite(gf) != np.isfinite(wf)) | (~np.isfinite(wf) & (gf != wf) & ~same_nan)
        if wrong.any():  # a nan or inf where the answer has a number, or the other way round
            bad = tuple(int(i) for i in np.argwhere(wrong)[0])
            at = f" at index {bad}" if g.ndim else ""
            count = f" ({int(wrong.sum())} of {wrong.size} entries)" if wrong.size > 1 else ""
            return f"  {name}: expected {number(w[bad])}, got {number(g[bad])}{at}{count}", None
        finite = np.isfinite(wf)  # -inf where a filter removes a token: compared above
        floor = FLOOR if floor is None else max(FLOOR, float(floor))
        error = rel_error(gf[finite], wf[finite], floor) if finite.any() else 0.0
        if error > tolerance:
            gap = np.where(finite, np.abs(gf - wf), 0.0)
            i = np.unravel_index(np.argmax(gap), w.shape) if w.ndim else ()
            at = f" at index {tuple(int(j) for j in i)}" if w.ndim else ""
            expected, given = digits(w[i], g[i])
            return (
                f"  {name}: expected {expected}, got {given}{at} (the largest error); relative "
                f"error {error:.1e} (accepted: {tolerance:.0e})",
                error,
            )
    return None, error


def number(x):
    """A NumPy or Python number as Python writes it: 0.25, inf, nan, (1+2j)."""
    return repr(complex(x) if np.iscomplexobj(x) else float(x) if np.ndim(x) == 0 else x)


def digits(w, g):
    """Two numbers written with just enough significant digits to see them differ."""
    if np.iscomplexobj(w) or np.iscomplexobj(g):
        return repr(complex(w)), repr(complex(g))
    w, g = float(w), float(g)
    for p in range(6, 18):
        a, b = f"{w:.{p}g}", f"{g:.{p}g}"
        if a != b:
            return a, b
    return repr(w), repr(g)


def unequal(want, got):
    """'expected ..., got ...' for two unequal values: for dicts, at the first key where they
    differ (a table of 256 entries is too long to compare by eye); for texts, where they part."""
    if isinstance(want, dict):
        for key in [*want, *(k for k in got if k not in want)]:
            if key not in got:
                return f"key {key!r} missing (expected {show(want[key])})"
            if key not in want:
                return f"key {key!r} not expected (got {show(got[key])})"
            if got[key] != want[key]:
                return f"at key {key!r}: expected {show(want[key])}, got {show(got[key])}"
    if isinstance(want, str):
        at = next(
            (k for k, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got))
        )
        start = max(0, at - 20)
        return (
            f"the texts part at character {at}: expected ...{want[start : at + 20]!r}, got "
            f"...{got[start : at + 20]!r} (lengths {len(want)} and {len(got)})"
        )
    return f"expected {show(want)}, got {show(got)}"


def show(value, limit=200):
    """A value for a message, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def swapped_outputs(ex, want, got, floors=None):
    """'your dk matches dq' when an output equals another one's right value; the whole order
    when the outputs are a permutation of the right ones."""
    if len(ex.outputs) < 2:
        return ""
    floors = floors or [None] * len(want)

    def equal(j, k):
        return difference(ex.outputs[k], want[k], got[j], ex.tolerance, floors[k])[0] is None

    order = [next((k for k in range(len(want)) if equal(j, k)), None) for j in range(len(got))]
    if None not in order and sorted(order) == list(range(len(want))):
        named = ", ".join(ex.outputs[k] for k in order)
        return f"Your outputs are ({named}), in that order: return ({', '.join(ex.outputs)})."
    for j in range(len(got)):
        other = next((k for k in range(len(want)) if k != j and equal(j, k)), None)
        if other is not None and not equal(j, j):
            return f"Your {ex.outputs[j]} matches {ex.outputs[other]}: are two outputs swapped?"
    return ""


def float32_note(ex, want, got, error):
    """A line when the answer is float32, holds only float32 numbers (computed in float32, then
    converted), or has an error of about float32's rounding (1e-7)."""
    for name, g in zip(ex.outputs, got):
        dtype = getattr(g, "dtype", None)
        if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
            return (
                f"Your {name} is {dtype}: float32 arithmetic? The checks use float64 (the inputs "
                "are float64): keep every step in float64."
            )
    if error is None or error > 1e-5:
        return ""  # far from right: rounding is not what is wrong
    for name, g, w in zip(ex.outputs, got, want):
        if isinstance(g, np.ndarray | np.floating) and np.asarray(g).dtype == np.float64:
            g, w = np.asarray(g), np.asarray(w)
            finite = np.isfinite(g)
            as32 = g[finite].astype(np.float32).astype(np.float64)
            if (
                g.size
                and np.array_equal(as32, g[finite])
                and not np.array_equal(w[finite].astype(np.float32).astype(np.float64), w[finite])
            ):
                return (
                    f"Every number of your {name} is a float32 number: computed in float32, then "
                    "converted? The checks use float64: keep every step in float64."
                )
    if ex.tolerance < error < FLOAT32_ERROR:
        return (
            f"An error of {error:.0e} is about what float32 arithmetic gives: is one of your steps "
            "float32? The checks use float64."
        )
    return ""


def describe_inputs(inputs):
    """'q (2, 3, 5, 4), causal=True': what a case is made of, readably, for a message."""
    parts = []
    for name, value in inputs.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{name} {value.shape}")
        elif isinstance(value, GPTWeights | CharVocab | FileBytes | SublayerWeights):
            parts.append(f"{name} {value.describe()}")
        elif isinstance(value, list | tuple | dict):
            parts.append(f"{name}: a {type(value).__name__} of {len(value)}")
        elif isinstance(value, float) and not math.isfinite(value):
            parts.append(f"{name}={value}")
        else:
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)
