"""Python source for a code model: the standard library's top-level modules, read as text.

Every CPython ships the source of its standard library. The top-level modules (the .py files
directly in the stdlib directory, such as os.py; packages such as json/ are left out) are 168
files, 4.7 MB, with Python 3.11.7; another Python version ships other files, so every number
made from them names its version. Nothing is copied into this repository, imported or executed:
the files are read as text (UTF-8), and `ast` finds the functions in them.

    files = source_files()                     # sorted paths
    train, test = split_files(files)           # by file, about 1 in 10 held out
    text = source_text(train)                  # the files joined, for a language model
    heads = function_headers(path.read_text()) # each function's header and its next line

Held out BY FILE: a function of a test file, its neighbours and its docstring were never read
in training (a split by function would let a model read the rest of the same file). The split is
fixed, with no random generator: a file is held out when the crc32 of its name is 0 mod 10.

Completions are judged as text.summaries judges summaries, against a simple baseline:
`complete_function` cuts a generated continuation where the function ends (the first line
indented no deeper than its `def`) and `parses` asks `ast.parse` whether the result is Python;
`FirstLineCounts` is the counting baseline for the next line after a header (the most frequent
first line of a body among training functions of the same name, else the most frequent of all).

Left out: packages (json/, email/ ...), tokenisation other than characters, execution of the
code (a completion that parses may still be wrong), and any measure of functional correctness.
"""

import ast
import textwrap
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass

from tinytransformer.text.docstrings import stdlib_files

HELD_OUT_MOD = 10  # a file whose name's crc32 is 0 mod this is held out


def source_files(root=None):
    """The standard library's top-level .py files (no packages), sorted by path.

    root: the stdlib directory (default: this Python's, from sysconfig).
    """
    return stdlib_files(root, top_level=True)


def split_files(files):
    """-> (train, test): lists of the paths, a file in test when crc32(its name) % 10 == 0.

    >>> from pathlib import Path
    >>> [p.name for p in split_files([Path("a/os.py"), Path("a/copy.py"), Path("a/re.py")])[1]]
    ['copy.py']
    """
    test = [p for p in files if zlib.crc32(p.name.encode()) % HELD_OUT_MOD == 0]
    held = set(test)
    return [p for p in files if p not in held], test


def read_source(path):
    """A file's text, or None when it is not UTF-8 or does not parse (a tool's broken sample)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if parses(text) else None


def source_text(files):
    """The readable files' texts joined by a blank line, in the order given (a str)."""
    return "\n\n".join(t for t in map(read_source, files) if t is not None)


@dataclass(frozen=True)
class FunctionHeader:
    """One function of a file: its name, the source up to and including its header (`prefix`,
    the context a model is prompted with), the header alone (`header`: the def line(s), as in
    the file, no decorators), the first line of its body (`next_line`, as in the file) and the
    column of its `def` (`indent`)."""

    name: str
    prefix: str
    header: str
    next_line: str
    indent: int


def function_headers(source):
    """Every function (def and async def) of a module's source, in the order of the file.

    >>> h = function_headers("x = 1\\n\\ndef f(a,\\n      b):\\n    return a + b\\n")[0]
    >>> h.name, h.header, h.next_line, h.indent
    ('f', 'def f(a,\\n      b):', '    return a + b', 0)
    """
    lines = source.split("\n")
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = [n for n in ast.walk(ast.parse(source)) if isinstance(n, kinds)]
    out = []
    for node in sorted(nodes, key=lambda n: n.lineno):
        first = node.body[0].lineno - 1  # 0-based line of the body's first statement
        if node.body[0].lineno == node.lineno:  # "def f(): pass" on one line: no header alone
            continue
        start = node.lineno - 1  # the def line itself (decorators sit above it)
        out.append(
            FunctionHeader(
                name=node.name,
                prefix="\n".join(lines[:first]) + "\n",
                header="\n".join(lines[start:first]),
                next_line=lines[first],
                indent=node.col_offset,
            )
        )
    return out


def complete_function(header, continuation, indent):
    """The header and the continuation's lines up to where the function ends (the first
    non-blank line indented no deeper than the def), shifted left by `indent` -> a str.

    >>> complete_function("    def f(self):", "        return 1\\n    def g(self):", 4)
    'def f(self):\\n    return 1'
    """
    body = []
    for line in continuation.split("\n"):
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
    return textwrap.dedent("\n".join([header, *body]).rstrip())  # the def's indent removed


def parses(source):
    """True when `source` is Python that ast.parse accepts.

    >>> parses("def f():\\n    return 1"), parses("def f(:")
    (True, False)
    """
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


class FirstLineCounts:
    """The counting baseline for the line after a header: the most frequent first body line
    (stripped) among the training functions of the same name, else among all of them (ties:
    the line met first).

    >>> heads = function_headers("def f():\\n    return 1\\ndef f():\\n    return 1\\n"
    ...                          "def g():\\n    pass\\n")
    >>> counts = FirstLineCounts(heads)
    >>> counts.predict("f"), counts.predict("h")
    ('return 1', 'return 1')
    """

    def __init__(self, headers):
        by_name = defaultdict(Counter)
        overall = Counter()
        for h in headers:
            by_name[h.name][h.next_line.strip()] += 1
            overall[h.next_line.strip()] += 1
        if not overall:
            raise ValueError("headers: expected at least one function to count, got none")
        self.by_name = {name: c.most_common(1)[0][0] for name, c in by_name.items()}
        self.overall = overall.most_common(1)[0][0]

    def predict(self, name):
        """The predicted first line (stripped) of a function called `name`."""
        return self.by_name.get(name, self.overall)
