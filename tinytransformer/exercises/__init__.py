"""Exercises that check themselves.

In a teacher's notebook an exercise is a function whose body sits between `### BEGIN SOLUTION`
and `### END SOLUTION`, followed by `check("4.1.3", attention)`; the student's copy, built by
`python -m tinytransformer exercises build`, has `raise NotImplementedError` in its place.

    spec.py       what an exercise is: cases, the library's reference, known mistakes
    attention.py  chapter 4.1's exercises (softmax, attention, their backward passes, layer norm)
    loss.py       chapter 4.2's exercises (cross-entropy and its backward pass)
    generation.py chapter 5's (greedy decoding, top-p, GPT-2's byte table, generate_text)
    tools.py      chapter 7's (Conv1D and nn.Linear layouts, a safetensors header by hand)
    catalog.py    every exercise by id
    checking.py   check(exercise_id, fn) -> Result
    notebooks.py  building student notebooks from teachers' ones
    grading.py    running submitted notebooks and collecting every exercise's status

    >>> from tinytransformer.exercises import check
    >>> check("4.1.1", lambda x: x).status
    'failed'
"""

from tinytransformer.exercises.catalog import EXERCISES
from tinytransformer.exercises.checking import Result, check

__all__ = ["EXERCISES", "Result", "check"]
