"""The docstring summarisation task: which docstrings make pairs (worked examples), the split by
file of the real stdlib (no test pair's text in the training pairs), and the lead baseline."""

import pytest

from tinytransformer.text.python_source import source_files, split_files
from tinytransformer.text.summaries import (
    MAX_BODY,
    SEPARATOR,
    Pair,
    docstring_pairs,
    lead,
    lead_length,
    split_docstring,
    summary_prompt,
    training_text,
)


def test_which_docstrings_make_pairs():
    body = "The data and the mode bits are copied, but not the owner."
    assert split_docstring(f"Copy a file.\n\n{body}") == (body, "Copy a file.")
    # no blank line after the summary
    assert split_docstring(f"Copy a file.\n{body}\n{body}") is None
    assert split_docstring("Copy a file.") is None  # no body
    assert split_docstring(f"Copy.\n\n{body}") is None  # a one-word summary
    assert split_docstring("Copy a file.\n\nToo short.") is None  # a body under 40 characters
    # the body's lines and indentation collapse to single spaces, and it is cut to MAX_BODY
    long = split_docstring("Copy a file.\n\n  one\n    two  three\n" + "x " * 400)
    assert long[0].startswith("one two three x x") and len(long[0]) == MAX_BODY


def test_prompt_and_training_text():
    pairs = [Pair("Body one is here.", "Sum one", "a.py"), Pair("Body two.", "Sum two", "b.py")]
    assert summary_prompt("Body one is here.") == "Body one is here." + SEPARATOR
    assert training_text(pairs) == (
        "Body one is here.\nSummary: Sum one\n\nBody two.\nSummary: Sum two"
    )


def test_lead_baseline_by_hand():
    assert lead("Return  the\nsum of the items.", 3) == "Return the sum"
    assert lead("Two words", 5) == "Two words"
    pairs = [Pair("b", s, "a.py") for s in ("a b c", "a b c d", " ".join("x" * 11))]
    assert lead_length(pairs) == 4  # the median summary length in words (the mean is 6)
    with pytest.raises(ValueError, match="pairs"):
        lead_length([])


def test_real_pairs_are_split_by_file():
    pairs = docstring_pairs()
    train, test = pairs["train"], pairs["test"]
    assert len(train) > 300 and len(test) > 20
    test_files = {p.name for p in split_files(source_files())[1]}
    assert {p.module for p in test} <= test_files
    assert not {p.module for p in train} & test_files
    assert not {(p.body, p.summary) for p in train} & {(p.body, p.summary) for p in test}
    for p in train + test:
        assert 3 <= len(p.summary.split()) <= 20 and 40 <= len(p.body) <= MAX_BODY
        assert "\n" not in p.body and "\n" not in p.summary
