"""A larger pretraining corpus from the same domain: the standard library's own docstrings.

pydoc's topics (the embedded corpus) hold ~0.47 MB, and without the classification task's
held-out topics ~0.28 MB: little for a model to learn English and Python from. Every CPython
also ships the source of its standard library, and its docstrings are documentation of the
same kind, written by the same people: with Python 3.11, 1.8 MB in 8,814 docstrings from 799
files. They are read at run time with `ast` (nothing is copied into this repository and
nothing is imported or executed), in a few seconds.

    text = stdlib_docstrings()                  # every docstring, modules in sorted path order
    text = stdlib_docstrings(holdout_text=t)    # without those that share 13 words in a row with t

What is read: every *.py file under sysconfig's "stdlib" directory, in sorted order of its path,
except the test suites (any directory named test or tests) and third-party packages
(site-packages, dist-packages). In each file, the docstrings of the module, its classes and its
functions, in the order `ast.walk` meets them, each cleaned by `ast.get_docstring` (indentation
removed). A file that does not parse is skipped. Other Python versions ship other docstrings.

Held-out text: a model fine-tuned and tested on the task in topic_task.py must not have read its
test paragraphs during pretraining. A docstring is dropped when it shares a run of 13 words
(lowercased, punctuation ignored) with the held-out text, the overlap test GPT-3's authors used
to find benchmark text in their training data. With 3.11 it drops two docstrings, 272 characters
(OrderedDict's popitem and setdefault, which repeat the dict methods' reference text).

Left out: C modules (their docstrings live in C source, which is not shipped), comments, and
the reference manual itself (not shipped with CPython).
"""

import ast
import functools
import sysconfig
from pathlib import Path

from tinytransformer.text.features import words

NGRAM = 13  # words in a row that count as the same text
_SKIP_DIRS = {"test", "tests", "site-packages", "dist-packages"}


def stdlib_files(root=None, *, top_level=False):
    """The standard library's .py files that hold documentation, sorted by path.

    root: the stdlib directory (default: this Python's, from sysconfig).
    top_level: only the files directly in it (os.py, not json/decoder.py), listed without
        walking the tree below (which holds site-packages, often far larger than the stdlib).
    """
    root = Path(sysconfig.get_paths()["stdlib"] if root is None else root)
    if top_level:
        files = sorted(root.glob("*.py"))
    else:
        files = [
            p
            for p in sorted(root.rglob("*.py"))
            if not _SKIP_DIRS & set(p.relative_to(root).parts[:-1])
        ]
    if not files:
        raise FileNotFoundError(
            f"no .py files under {root}: this Python ships its standard library without source "
            "(some minimal or embedded builds do), so the stdlib docstrings corpus is not available"
        )
    return files


def file_docstrings(source):
    """The docstrings of a module's source (str or bytes): module, classes and functions.

    >>> file_docstrings("'A module.'\\ndef f():\\n    'Say hi.'\\n    return 1\\ndef g(): pass")
    ['A module.', 'Say hi.']
    """
    tree = ast.parse(source)
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docs = (ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, kinds))
    return [d for d in docs if d]  # None (no docstring) and "" are both left out


@functools.cache
def _all_docstrings(root=None):
    docs = []
    for path in stdlib_files(root):
        try:
            docs += file_docstrings(path.read_bytes())
        except (SyntaxError, ValueError):  # e.g. a deliberately broken file kept for a tool
            continue
    return tuple(docs)


def ngrams(text, n=NGRAM):
    """The set of runs of n words of `text`, lowercased (a word is a run of \\w characters).

    >>> sorted(ngrams("The cat, the CAT!", n=2))
    [('cat', 'the'), ('the', 'cat')]
    """
    seq = words(text)  # lower-cased, as features.words defines a word
    return {tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)}


def stdlib_docstrings(holdout_text=None, root=None):
    """The standard library's docstrings joined by blank lines (a str).

    holdout_text: a str; docstrings sharing a run of NGRAM words with it are left out.
    root: the stdlib directory (default: this Python's).
    """
    docs = _all_docstrings(root)
    if holdout_text is not None:
        held = ngrams(holdout_text)
        docs = [d for d in docs if not ngrams(d) & held]
    return "\n\n".join(docs)
