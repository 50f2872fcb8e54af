"""Exercises that check themselves, and a grader that a teacher can trust.

In a teacher's notebook an exercise is a function whose body sits between `### BEGIN SOLUTION`
and `### END SOLUTION`, followed by `check("4.1.3", attention)`; the student's copy, built by
`python -m tinytransformer exercises build`, has `raise NotImplementedError` in its place.
`check()` is the student's instant feedback; `python -m tinytransformer grade` decides a grade
outside the student's code (grading.py), so nothing a notebook does can change it.

    spec.py       what an exercise is: cases, the library's reference, mistakes, hints
    background.py chapter 1's (bigram counts, the add-alpha bigram loss, the bag of words)
    transformer.py chapter 2.1's (heads split and merged, the parameter count, GPT-2's MLP,
                  the pre-LN block)
    selfsupervised.py chapter 2.2's (next-token pairs, masked-LM targets, BERT's 80/10/10)
    transfer.py   chapter 2.3's (mean pooling and its backward pass, a result over seeds)
    pretraining.py chapter 3.1's (BPE's pair counts and merge, the learning-rate schedule)
    finetuning.py chapter 3.2's (the early-stopping rule, one AdamW step)
    attention.py  chapter 4.1's exercises (softmax, attention, their backward passes, layer norm)
    loss.py       chapter 4.2's exercises (cross-entropy and its backward pass)
    generation.py chapter 5's (greedy decoding, top-p, GPT-2's byte table, generate_text)
    applications.py chapter 6's (ROUGE-N on token lists, distinct-n, macro F1 of a confusion
                  matrix)
    tools.py      chapter 7's (Conv1D and nn.Linear layouts, a safetensors header by hand)
    trends.py     chapter 8's (a power law fitted to losses, a canary's exposure, the entropy
                  of softmax(logits / temperature))
    evaluating.py chapter 9's (BLEU's clipped precision and brevity penalty, inverted dropout,
                  corpus perplexity over batches of different sizes)
    catalog.py    every exercise by id
    wire.py       inputs and outputs as plain arrays and JSON (specs for models, files)
    monitor.py    running an answer and seeing whether it calls the library's answer
    judging.py    comparing an answer with the reference; what a failure message says
    checking.py   check(exercise_id, fn) -> Result, hint(exercise_id): the notebook's feedback
    notebooks.py  building student notebooks from teachers' ones
    grading.py    grading a class: staging, one sandboxed run per notebook, the table
    runner.py     the process that runs one submitted notebook (python -m ...exercises.runner)
    kernel.py     the notebook's kernel, armed before any of the notebook's code runs
    sandbox.py    inside that kernel: answering the grader where the notebook cannot interfere
    processes.py  process limits and ending every process a notebook started

HOWTO.md in this folder is the checklist for adding an exercise.

    >>> from tinytransformer.exercises import check
    >>> check("4.1.1", lambda x: x).status
    'failed'
"""

from tinytransformer.exercises.catalog import EXERCISES
from tinytransformer.exercises.checking import check, hint
from tinytransformer.exercises.judging import Result

__all__ = ["EXERCISES", "Result", "check", "hint"]
