"""The code corpus: top-level modules only, a split by file that holds no test file's text,
function headers with their next lines (worked examples), completions cut where the function
ends, and the counting baseline."""

import ast
import zlib

import pytest

from tinytransformer.text.python_source import (
    FirstLineCounts,
    complete_function,
    function_headers,
    parses,
    read_source,
    source_files,
    source_text,
    split_files,
)

SOURCE = '''"""A module."""

import os


@decorator
def first(a,
          b=1):
    """Add."""
    return a + b


class K:
    def method(self):
        return self.x

    async def later(self): pass
'''


def test_source_files_are_top_level_modules_only(tmp_path):
    (tmp_path / "pkg").mkdir()
    for name in ("b.py", "a.py", "pkg/inner.py", "notes.txt"):
        (tmp_path / name).write_text("x = 1\n")
    assert [p.name for p in source_files(tmp_path)] == ["a.py", "b.py"]
    files = source_files()  # this Python's own: each one directly in the stdlib directory
    assert len(files) > 50 and len({p.parent for p in files}) == 1


def test_split_is_by_file_name_and_disjoint():
    files = source_files()
    train, test = split_files(files)
    assert sorted(train + test) == files and not set(train) & set(test)
    assert all(zlib.crc32(p.name.encode()) % 10 == 0 for p in test)
    assert 0.03 < len(test) / len(files) < 0.25
    text = source_text(train)
    for path in test[:3]:  # no held-out module's text is in the training text
        source = read_source(path)
        assert source is not None and source[:2000] not in text


def test_headers_by_hand():
    heads = function_headers(SOURCE)
    assert [h.name for h in heads] == ["first", "method"]  # a one-line def has no header alone
    first, method = heads
    assert first.header == "def first(a,\n          b=1):"
    assert first.next_line == '    """Add."""'
    assert first.indent == 0 and first.prefix.endswith(
        "@decorator\ndef first(a,\n          b=1):\n"
    )
    assert method.header == "    def method(self):" and method.indent == 4
    assert method.next_line == "        return self.x"


def test_a_true_body_completes_to_the_function():
    lines = SOURCE.split("\n")
    method = function_headers(SOURCE)[1]
    rest = "\n".join(lines[lines.index(method.header) + 1 :])
    done = complete_function(method.header, rest, method.indent)
    assert done == "def method(self):\n    return self.x"  # cut at "async def", dedented
    assert parses(done)
    tree = ast.parse(done)
    assert isinstance(tree.body[0], ast.FunctionDef) and len(tree.body[0].body) == 1


def test_completions_that_do_not_parse():
    assert not parses(complete_function("def f(x):", "    return (x +", 0))
    assert not parses(complete_function("def f(x):", "", 0))  # no body at all
    assert parses(complete_function("def f(x):", "    pass\nprint(", 0))  # cut before print(


def test_counting_baseline_by_hand():
    heads = function_headers(
        "def f():\n    return 1\ndef f():\n    return 2\ndef f():\n    return 2\n"
        "def g():\n    pass\ndef h():\n    pass\ndef k():\n    pass\n"
    )
    counts = FirstLineCounts(heads)
    assert counts.predict("f") == "return 2"  # by name: 2 of 3
    assert counts.predict("g") == "pass"
    assert counts.predict("unknown") == "pass"  # overall: pass 3 times, return 2 twice
    tie = FirstLineCounts(function_headers("def a():\n    x\ndef b():\n    y\n"))
    assert tie.overall == "x"  # a tie goes to the line met first
    with pytest.raises(ValueError, match="headers"):
        FirstLineCounts([])
