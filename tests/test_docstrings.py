"""The stdlib-docstrings pretraining corpus: what is read, what is skipped, what is held out."""

import pytest

from tinytransformer.text import docstrings
from tinytransformer.text import topic_task as tasks
from tinytransformer.text.corpora import load_corpus


def write(root, rel, source):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


@pytest.fixture
def fake_stdlib(tmp_path):
    """A small stdlib tree: two documented modules, a test suite, a third-party package, and
    a file that does not parse."""
    write(tmp_path, "b.py", '"""Module b."""\nclass C:\n    """Class C."""\n    def m(self):\n'
          '        """Method m."""\n')  # fmt: skip
    write(tmp_path, "a/__init__.py", '"""Package a."""\nasync def f():\n    """Coroutine f."""\n')
    write(tmp_path, "a/test/test_a.py", '"""A test suite."""\n')
    write(tmp_path, "tests/t.py", '"""More tests."""\n')
    write(tmp_path, "site-packages/x/__init__.py", '"""Third party."""\n')
    write(tmp_path, "broken.py", '"""Broken."""\ndef (:\n')
    write(tmp_path, "plain.py", "x = 1\n")
    return tmp_path


def test_reads_module_class_and_function_docstrings_in_path_order(fake_stdlib):
    names = [p.relative_to(fake_stdlib).as_posix() for p in docstrings.stdlib_files(fake_stdlib)]
    assert names == ["a/__init__.py", "b.py", "broken.py", "plain.py"]
    text = docstrings.stdlib_docstrings(root=fake_stdlib)
    # the broken file is skipped, the plain one has nothing to give
    assert text == "Package a.\n\nCoroutine f.\n\nModule b.\n\nClass C.\n\nMethod m."


def test_holdout_drops_docstrings_sharing_13_words_in_a_row(tmp_path):
    thirteen = "one two three four five six seven eight nine ten eleven twelve thirteen"
    twelve = thirteen.rsplit(" ", 1)[0]
    write(
        tmp_path, "m.py", f'"""Keep: {twelve}."""\ndef f():\n    """Drop: {thirteen.upper()}!"""\n'
    )
    held = f"Some held-out text, {thirteen}, and more."
    assert docstrings.stdlib_docstrings(root=tmp_path) == f"Keep: {twelve}.\n\nDrop: " + (
        thirteen.upper() + "!"
    )
    assert docstrings.stdlib_docstrings(holdout_text=held, root=tmp_path) == f"Keep: {twelve}."


def test_a_stdlib_without_source_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="without source"):
        docstrings.stdlib_docstrings(root=tmp_path)


def test_stdlib_pretraining_corpus_extends_the_topics_and_holds_out_the_task():
    small = load_corpus("python-docs-pretrain")
    large = load_corpus("python-docs-stdlib-pretrain")
    assert large.startswith(small + "\n\n")
    assert len(large) > 5 * len(small)  # 2.1 MB against 0.28 MB with Python 3.11
    # no run of 13 words from a val or test topic, and no held-out paragraph at all
    assert not docstrings.ngrams(large[len(small) :]) & docstrings.ngrams(tasks.heldout_text())
    added = large[len(small) :]
    assert not any(p in added for p in tasks.heldout_paragraphs())
    assert large == load_corpus("python-docs-stdlib-pretrain")  # deterministic
