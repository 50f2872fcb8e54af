"""Corpora: where the text comes from, and the one cleaning step applied to it.

    text = clean_text(load_corpus("python-docs"))      # a str

Corpora: "python-docs" is Python's own documentation topics, shipped with every CPython as
`pydoc_data.topics`, so it needs no download ("python-docs-pretrain" is the same without the text
that the fine-tuning task in topic_task.py tests on; "python-docs-stdlib-pretrain" adds the
standard library's docstrings, read from its source, see docstrings.py); "shakespeare" is Tiny
Shakespeare, downloaded on request once into a cache directory and checked against its sha256;
any other name is a path to a UTF-8 text file.

What this file leaves out: streaming corpora larger than memory (a corpus is one str), document
boundaries (the corpus is one long stream) and any cleaning beyond clean_text (no Unicode
normalisation, no deduplication).
"""

import hashlib
import os
import re
import urllib.request
from pathlib import Path
from pydoc_data.topics import topics as PYDOC_TOPICS

from tinytransformer.files import write_atomic
from tinytransformer.text.docstrings import stdlib_docstrings
from tinytransformer.text.topic_task import heldout_text, pretraining_text

SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_FILE = "tinyshakespeare.txt"
CORPUS_NAMES = ("python-docs", "python-docs-pretrain", "python-docs-stdlib-pretrain", "shakespeare")


def load_corpus(name_or_path="python-docs", cache_dir=None):
    """Return a corpus as one str: "python-docs", "shakespeare", or a path to a UTF-8 text file.

    cache_dir: where "shakespeare" is kept; default $TINYTRANSFORMER_CACHE, else
    ~/.cache/tinytransformer. Unused by the other corpora.
    """
    if name_or_path == "python-docs":
        return _python_docs()
    if name_or_path == "python-docs-pretrain":
        # the same topics minus the classification task's val/test text (topic_task.py), so a
        # model pretrained on it has never read the paragraphs it is tested on after fine-tuning
        return pretraining_text()
    if name_or_path == "python-docs-stdlib-pretrain":
        # 7.5 times more text of the same kind: the above, then the standard library's
        # docstrings without any that repeat the task's held-out text (docstrings.py)
        return pretraining_text() + "\n\n" + stdlib_docstrings(holdout_text=heldout_text())
    if name_or_path == "shakespeare":
        return _shakespeare(_cache_dir(cache_dir))
    return _read_text_file(name_or_path)


def _python_docs():
    # pydoc's topic texts (what `help("with")` prints): ~0.47 MB of English prose and code
    return "\n\n".join(
        PYDOC_TOPICS[name] for name in sorted(PYDOC_TOPICS)
    )  # sorted: same every run


def _cache_dir(cache_dir):
    if cache_dir is None:
        cache_dir = (
            os.environ.get("TINYTRANSFORMER_CACHE") or Path.home() / ".cache/tinytransformer"
        )
    return Path(cache_dir)


def _shakespeare(cache_dir):
    path = cache_dir / SHAKESPEARE_FILE
    if path.exists():
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHAKESPEARE_SHA256:
            raise ValueError(
                f"{path}: sha256 is {digest}, expected {SHAKESPEARE_SHA256}; the cached file is "
                "damaged or a different text. Delete it and load again to download it afresh."
            )
        return data.decode("utf-8")
    try:
        data = _download(SHAKESPEARE_URL)
    except OSError as e:  # urllib.error.URLError and socket timeouts are OSErrors
        raise ConnectionError(
            f"could not download Tiny Shakespeare from {SHAKESPEARE_URL} ({e}). To use it "
            f"offline, fetch that URL on a connected machine and save it as {path} (or set "
            "TINYTRANSFORMER_CACHE to the folder holding tinyshakespeare.txt). Any local UTF-8 "
            "text file also works: load_corpus('/path/to/file.txt')."
        ) from e
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHAKESPEARE_SHA256:
        raise ValueError(
            f"downloaded {SHAKESPEARE_URL}: sha256 is {digest}, expected {SHAKESPEARE_SHA256}; "
            "nothing was saved"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    return data.decode("utf-8")


def _download(url, timeout=30):
    """Fetch `url` and return its bytes (the one place that touches the network)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _read_text_file(path):
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FileNotFoundError(
            f"corpus {str(path)!r} {what}: expected one of {CORPUS_NAMES} or a path to a UTF-8 "
            "text file"
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"corpus file {path}: expected UTF-8 text, got byte 0x{data[e.start]:02x} at offset "
            f"{e.start} that is not valid UTF-8"
        ) from None
    if not text:
        raise ValueError(f"corpus file {path} is empty: expected some text")
    return text


# Unicode category Cc: the C0 controls U+0000-U+001F, DEL U+007F and the C1 controls
# U+0080-U+009F; we keep "\n" and "\t", which text uses for layout.
_CONTROLS = {c: None for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\n\t"}


def clean_text(text):
    """Normalise text before tokenizing. Exactly three things happen, in this order:

    1. Newlines: "\\r\\n" (Windows) and then a lone "\\r" (old Mac) each become "\\n".
    2. Control characters (Unicode category Cc: U+0000-U+001F, U+007F-U+009F) are dropped, except
       "\\n" and "\\t". Form feed and vertical tab are controls, so they go too.
    3. Three or more blank lines in a row (4+ consecutive "\\n") become exactly two blank lines
       ("\\n\\n\\n"). A line holding spaces is not blank for this rule.

    Everything else is kept as it is: spaces, trailing whitespace, format characters such as the
    zero-width joiner inside emoji, and Unicode normalisation form (no NFC/NFKC).

    >>> clean_text("a\\r\\nb\\rc\\x00d\\n\\n\\n\\n\\ne")
    'a\\nb\\ncd\\n\\n\\ne'
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_CONTROLS)
    return re.sub(r"\n{4,}", "\n\n\n", text)
