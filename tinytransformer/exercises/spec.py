"""What an exercise is: its id and signature, the cases it is checked on, the library's reference
answer, and the wrong answers a student would plausibly write (named, so the check can say which
one it met).

An exercise's chapter module (attention.py for §4.1, loss.py for §4.2) builds one Exercise each;
catalog.py collects them; checking.py runs them.
"""

from dataclasses import dataclass, field


@dataclass
class Case:
    """One input to check an answer on: a name a student can read ("causal, (2, 3, 5, 4)"), the
    keyword arguments of the exercise's function, and what the inputs were made from when the
    finite-difference check needs it (the x of p = softmax(x)), which the function never sees.
    The inputs are passed by position, in the order of the signature."""

    name: str
    inputs: dict
    source: dict = field(default_factory=dict)


@dataclass
class Mistake:
    """A plausible wrong answer: `answer` has the exercise's signature; when a student's output
    matches it on a failing case, the check names the mistake and gives `advice`."""

    name: str
    answer: object
    advice: str


@dataclass
class Exercise:
    """One auto-checked exercise.

    id:          "4.1.3", the chapter's section and the exercise's number
    title:       what it asks, in a few words
    signature:   "attention(q, k, v, causal)", as the notebook defines it
    outputs:     names of what the function returns, one per array ("out",) or ("dq", "dk", "dv")
    reference:   the library's answer, with the same signature
    cases:       a function of no arguments -> list of Case (random shapes, edge cases, float64)
    mistakes:    known wrong answers
    hint:        what to look at first when an answer fails and matches no known mistake
    numerical:   for a backward pass, a function Case -> the finite-difference estimate of each
                 output (a tuple like the outputs); the check reports the answer's error against it
    tolerance:   the largest relative error (gradcheck.rel_error) accepted against the reference
    verify:      a function of the answer's outputs (a tuple) -> a problem described in a line,
                 or None: a property the values alone do not show (a contiguous array, ...)
    """

    id: str
    title: str
    signature: str
    outputs: tuple
    reference: object
    cases: object
    mistakes: list = field(default_factory=list)
    hint: str = ""
    numerical: object = None
    tolerance: float = 1e-8
    verify: object = None
