"""A summarisation task from the standard library's docstrings: a docstring's body is the text,
its first line the summary (PEP 257: "a summary line, followed by a blank line, followed by a
more elaborate description").

    pairs = docstring_pairs()          # {"train": [Pair], "test": [Pair]}
    prompt = summary_prompt(pair.body) # "BODY\\nSummary:": what a model continues
    guess = lead(pair.body, n_words)   # the lead baseline: the body's first n words

What is a pair: a docstring (text.docstrings.file_docstrings, the module's, its classes' and
functions') of a top-level stdlib module (text.python_source.source_files) whose first line is
followed by a blank line and then a body; the summary is the first line, stripped, 3 to 20
words; the body is the rest, kept when it has at least 40 characters, its lines joined with one
space per run of whitespace and cut to its first MAX_BODY characters. A docstring met twice (the
same text in two places) is kept once.

Held out by file, with text.python_source.split_files: a test pair's module, and so its code and
its other docstrings, is in none of the training text (the code model of chapter 6 is
pretrained on the training files' source).

The lead baseline takes the body's first words: in news the first sentence is a strong summary
(See et al., 2017); in a docstring the body often restates the summary in other words, or starts
on a detail. n_words is chosen on the training pairs (their median summary length) and nothing
else is tuned. Numbers come from one Python version's docstrings (3.11.7 in chapter 6).

Left out: multi-sentence summaries, docstrings of packages and C modules, and any cleaning of
reStructuredText markup.
"""

import statistics
from dataclasses import dataclass

from tinytransformer.text.docstrings import file_docstrings
from tinytransformer.text.python_source import read_source, source_files, split_files

MAX_BODY = 128  # characters of a body kept: prompt and summary must fit a 192-character window
MIN_BODY = 40
SUMMARY_WORDS = (3, 20)
SEPARATOR = "\nSummary:"  # between the body and the summary in a prompt


@dataclass(frozen=True)
class Pair:
    """One example: body (the text, one line) -> summary (the docstring's first line)."""

    body: str
    summary: str
    module: str  # the file's name, e.g. "shutil.py"


def split_docstring(doc):
    """A docstring -> (body, summary), or None when it is not "summary, blank line, body" with
    a summary of 3..20 words and a body of at least 40 characters.

    >>> split_docstring("Copy a file.\\n\\nThe data and the mode bits are copied,\\n"
    ...                 "but not the owner or the group.")
    ('The data and the mode bits are copied, but not the owner or the group.', 'Copy a file.')
    """
    lines = doc.split("\n")
    if len(lines) < 3 or lines[1].strip():
        return None
    summary = lines[0].strip()
    body = " ".join(" ".join(lines[2:]).split())[:MAX_BODY]
    low, high = SUMMARY_WORDS
    if not low <= len(summary.split()) <= high or len(body) < MIN_BODY:
        return None
    return body, summary


def docstring_pairs(root=None):
    """{"train": [Pair], "test": [Pair]} from the top-level modules' docstrings, split by file
    (python_source.split_files), each list in file order; duplicates kept once (first met)."""
    seen = set()
    out = {}
    for split, files in zip(("train", "test"), split_files(source_files(root)), strict=True):
        out[split] = []
        for path in files:
            source = read_source(path)
            for doc in file_docstrings(source) if source is not None else ():
                pair = split_docstring(doc)
                if pair is not None and pair not in seen:
                    seen.add(pair)
                    out[split].append(Pair(*pair, module=path.name))
    return out


def summary_prompt(body):
    """The text a model continues to summarise `body`: the body, then SEPARATOR.

    >>> summary_prompt("Returns the sum.")
    'Returns the sum.\\nSummary:'
    """
    return body + SEPARATOR


def training_text(pairs):
    """The pairs as one text to train a language model on: "BODY\\nSummary: SUMMARY" per pair,
    separated by a blank line (a str)."""
    return "\n\n".join(f"{summary_prompt(p.body)} {p.summary}" for p in pairs)


def lead(body, n_words):
    """The lead baseline: the first n_words words of the body.

    >>> lead("Return the sum of the items, in order.", 3)
    'Return the sum'
    """
    return " ".join(body.split()[:n_words])


def lead_length(pairs):
    """The lead baseline's n_words: the median number of words of the pairs' summaries (an
    int >= 1), chosen on training pairs."""
    if not pairs:
        raise ValueError("pairs: expected at least one pair to measure, got none")
    return max(1, round(statistics.median(len(p.summary.split()) for p in pairs)))
