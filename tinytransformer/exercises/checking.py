"""`check(exercise_id, fn)`: the notebook's instant feedback. Runs a student's function on the
exercise's cases in the notebook's own process and judges it against the library.

    result = check("4.1.3", attention)
    result.status     # "passed", "failed", "not done" (fn raises NotImplementedError), "error"
    result.passed     # True only for "passed"
    result.message    # PASS with the measured error, or the first failing case: its inputs,
                      # expected vs got, the largest error and where, what to look at first
    check("4.1.3", attention, hint=True)   # the same, with the formula on a failure
    hint("4.1.3")                          # the formula alone

The cases are the exercise's edge cases and random cases drawn from CHECK_SEED, so a failure
repeats when the cell is run again. A grade is not decided here: the grader runs the notebook's
functions in a sandbox on cases drawn from a seed of its own (grading.py).
"""

import functools
import inspect
import sys
import tempfile
import warnings

import numpy as np

from tinytransformer.exercises.catalog import EXERCISES
from tinytransformer.exercises.judging import Result, judge
from tinytransformer.exercises.monitor import Watch, answering
from tinytransformer.exercises.wire import CODEC

CHECK_SEED = 0


def case_rng(seed, exercise_id):
    """The Generator an exercise's random cases are drawn from: one stream per (seed, id)."""
    return np.random.default_rng([seed, *(int(part) for part in exercise_id.split("."))])


def exercise(exercise_id):
    if exercise_id not in EXERCISES:
        known = ", ".join(EXERCISES)
        raise KeyError(f"exercise_id: expected one of {known}, got {exercise_id!r}")
    return EXERCISES[exercise_id]


@functools.cache
def watch(exercise_id):
    return Watch.of(EXERCISES[exercise_id])


def check(exercise_id, fn, hint=False):
    """Check `fn` against exercise `exercise_id` (see the module docstring) -> Result."""
    return run_check(exercise(exercise_id), fn, hint, watch(exercise_id))


def run_check(ex, fn, hint=False, watched=None):
    """check() for an Exercise, watched (a monitor.Watch) or not (None: the package's own
    mistakes are library code, and its tests check them unwatched)."""
    head = f"{ex.id} {ex.signature}"
    if not callable(fn):
        return Result(ex.id, "error", f"ERROR {head}: expected a function, got {type(fn).__name__}")
    cases = ex.cases(case_rng(CHECK_SEED, ex.id))
    run = answering(sys.getprofile, sys.setprofile)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="tinytransformer-check-") as folder:
        for case in cases:
            inputs = CODEC.build(case.inputs, folder)
            outer = sys.getprofile()  # a profiler of the student's own is put back afterwards
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                # a NaN or inf in the answer is reported by the comparison, with its case
                warnings.simplefilter("ignore")
                outcome = run(fn, inputs, watched)
            sys.setprofile(outer)
            outcomes.append(outcome)
            if outcome.kind != "returned":
                break
    return judge(ex, cases, outcomes, hint=hint, source=_source_lines(fn))


def _source_lines(fn):
    try:
        return inspect.getsource(fn).splitlines()
    except (OSError, TypeError):
        return None


class Formula(str):
    """The formula of an exercise; shows itself as plain text in a notebook."""

    def __repr__(self):
        return str(self)


def hint(exercise_id):
    """The formula of an exercise, for when its check's first hint was not enough."""
    ex = exercise(exercise_id)
    return Formula(f"{ex.id} {ex.signature}: {ex.formula}")
