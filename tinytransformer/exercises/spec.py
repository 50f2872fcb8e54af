"""What an exercise is: its id and signature, the cases it is checked on (fixed edge cases plus
random ones drawn from a seed the checker picks), the library's reference answer, what of the
library an answer may call, the wrong answers students write (named, so a failure can say
which one it met), the properties every right answer has (the first hint), and the formula
(the hint a student asks for).

An exercise's chapter module (attention.py for §4.1, loss.py for §4.2) builds one Exercise each;
catalog.py collects them; judging.py compares an answer with the reference, checking.py (in the
notebook) and grading.py (for a class) run it. See HOWTO.md for adding one.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    """One input to check an answer on: a name a student can read ("causal, (2, 3, 5, 4)"), the
    arguments of the exercise's function (passed by position, in the order of the signature),
    and what the inputs were made from when the finite-difference check needs it (the x of
    p = softmax(x)), which the function never sees.

    Inputs are plain data: NumPy arrays, numbers, strings, lists, dicts, or one of the wire
    specs (wire.GPTWeights, wire.CharVocab, wire.FileBytes) for a model, a tokenizer or a file,
    which each side rebuilds: that is how a case crosses into a graded notebook's process."""

    name: str
    inputs: dict
    source: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer: `answer` has the exercise's signature. It is named when a
    failing answer matches it on a case where it differs from the right answer."""

    name: str
    answer: object
    advice: str


@dataclass(frozen=True)
class Property:
    """Something every right answer has ("every row sums to 1"). `broken(case, outputs)` gets
    the built inputs and the answer's outputs (a tuple) and returns None, or a few words on where
    the property fails ("row 2 sums to 0.83"). On a failure the first broken property is the
    hint: it says what is wrong without giving the formula away."""

    name: str
    broken: object


@dataclass(frozen=True)
class Exercise:
    """One auto-checked exercise.

    id:           "4.1.3": the chapter ("4.1", the id without its last part) and the number
    title:        what it asks, in a few words
    signature:    "attention(q, k, v, causal)", as the notebook defines it (the grader looks the
                  function up by this name)
    outputs:      names of what the function returns, one per value: ("out",), ("dq", "dk", "dv")
    reference:    the library's answer, with the same signature
    edge_cases:   () -> [Case]: fixed cases every right answer must survive (logits of 1000, one
                  position, a knife edge moved off the edge)
    random_cases: rng -> [Case]: cases drawn from a numpy Generator; the grader seeds it at run
                  time, so a table of the package's cases answers nothing
    formula:      the hint a student asks for (check(id, fn, hint=True) or hint(id))
    library:      dotted names of the library's own implementation of what is asked (the op the
                  student writes); an answer that calls one, or is the reference, "uses the
                  library's answer"
    may_use:      dotted names (functions or classes) of the library an answer may call (the
                  model's forward pass in 5.1); any other library function it calls is reported
                  as above. `library` wins where the two overlap
    mistakes:     known wrong answers
    properties:   what every right answer has, the first hint on a failure
    numerical:    for a backward pass, a function Case -> the finite-difference estimate of each
                  output (a tuple like the outputs); the answer is checked against it too
    tolerance:    the largest relative error (gradcheck.rel_error) accepted against the reference
    floor:        inputs (built) -> one magnitude per output that its error is measured against
                  at least: an output that is ~0 by cancellation (a loss of 1e-16 nats, the
                  gradient of a saturated softmax) holds rounding that is no difference
    verify:       outputs (a tuple) -> a line describing a problem the values alone do not show
                  (an array that is not C-contiguous), or None
    """

    id: str
    title: str
    signature: str
    outputs: tuple
    reference: object
    edge_cases: object
    random_cases: object
    formula: str
    library: tuple = ()
    may_use: tuple = ()
    mistakes: tuple = ()
    properties: tuple = ()
    numerical: object = None
    tolerance: float = 1e-8
    floor: object = None
    verify: object = None

    @property
    def function(self):
        """The name the notebook defines: "attention" for "attention(q, k, v, causal)"."""
        return self.signature.partition("(")[0]

    @property
    def chapter(self):
        """ "4.1" for "4.1.3", "5" for "5.2": the notebook an exercise belongs to."""
        return self.id.rpartition(".")[0]

    def cases(self, rng):
        """The edge cases, then the random cases drawn from `rng`."""
        return [*self.edge_cases(), *self.random_cases(rng)]
