"""Data: a corpus on disk -> clean text -> token ids -> (x, y) training batches.

The pipeline, in the order `prepare_data` runs it:
    text = clean_text(load_corpus("python-docs"))      # a str
    train_text, val_text = first 90%, last 10%          # split before tokenizing: no leakage
    tok = BPETokenizer.train(train_text, 512)           # or CharTokenizer
    data = TokenData(tok.encode(train_text), tok.encode(val_text))
    x, y = data.get_batch("train", B, T, rng)           # (B, T) int64 each, y is x shifted by one

Corpora: "python-docs" is Python's own documentation topics, shipped with every CPython as
`pydoc_data.topics`, so it needs no download ("python-docs-pretrain" is the same without the text
that the fine-tuning task in tasks.py tests on; "python-docs-stdlib-pretrain" adds the standard
library's docstrings, read from its source, see docstrings.py); "shakespeare" is Tiny
Shakespeare, downloaded on request once into a cache directory and checked against its sha256;
any other name is a path to a UTF-8 text file.

What this file leaves out: streaming corpora larger than memory (everything is one str and one
int64 array), shuffled epochs (batches are independent random windows, as in nanoGPT), document
boundaries (the corpus is one long stream), and padding (every window is full length).
"""

import hashlib
import os
import re
import urllib.request
from pathlib import Path

import numpy as np

from tinytransformer.files import write_atomic
from tinytransformer.tokenizer import BPETokenizer, CharTokenizer

SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_FILE = "tinyshakespeare.txt"
CORPUS_NAMES = ("python-docs", "python-docs-pretrain", "python-docs-stdlib-pretrain", "shakespeare")
SPLITS = ("train", "val")


# ---------------------------------------------------------------------------------------------
# Corpora


def load_corpus(name_or_path="python-docs", cache_dir=None):
    """Return a corpus as one str: "python-docs", "shakespeare", or a path to a UTF-8 text file.

    cache_dir: where "shakespeare" is kept; default $TINYTRANSFORMER_CACHE, else
    ~/.cache/tinytransformer. Unused by the other corpora.
    """
    if name_or_path == "python-docs":
        return _python_docs()
    if name_or_path == "python-docs-pretrain":
        # the same topics minus the classification task's val/test text (tasks.py), so a model
        # pretrained on it has never read the paragraphs it is tested on after fine-tuning
        from tinytransformer.tasks import pretraining_text

        return pretraining_text()
    if name_or_path == "python-docs-stdlib-pretrain":
        # 7.5 times more text of the same kind: the above, then the standard library's
        # docstrings without any that repeat the task's held-out text (docstrings.py)
        from tinytransformer.docstrings import stdlib_docstrings
        from tinytransformer.tasks import heldout_text, pretraining_text

        return pretraining_text() + "\n\n" + stdlib_docstrings(holdout_text=heldout_text())
    if name_or_path == "shakespeare":
        return _shakespeare(_cache_dir(cache_dir))
    return _read_text_file(name_or_path)


def _python_docs():
    # pydoc's topic texts (what `help("with")` prints): ~0.47 MB of English prose and code.
    # Imported here, not at the top, so nothing is loaded unless this corpus is asked for.
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))  # sorted: same text every run


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


# ---------------------------------------------------------------------------------------------
# Cleaning

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


# ---------------------------------------------------------------------------------------------
# Splitting and batching


def _n_train(n, val_fraction):
    """How many of `n` items go to train: the first n - round(n * val_fraction)."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction: expected a number in [0, 1), got {val_fraction!r}")
    return n - round(n * val_fraction)


def split_ids(ids, val_fraction=0.1):
    """Contiguous split: the first (1 - val_fraction) of `ids` for training, the rest to validate.

    Contiguous, not shuffled, so no training window overlaps a validation window except at the
    one seam. Returns two int64 arrays. split_ids(range(10)) -> ([0..8], [9]).
    """
    ids = _as_id_array("ids", ids)
    n_train = _n_train(len(ids), val_fraction)
    return ids[:n_train], ids[n_train:]


class TokenData:
    """Train and validation token streams, and random (x, y) windows drawn from them.

    >>> data = TokenData(np.arange(100), np.arange(100, 120))
    >>> x, y = data.get_batch("val", 2, 4, np.random.default_rng(0))
    >>> x.shape, bool((y[:, :-1] == x[:, 1:]).all())
    ((2, 4), True)
    """

    def __init__(self, train_ids, val_ids):
        self.train_ids = _as_id_array("train_ids", train_ids)  # (N_train,) int64
        self.val_ids = _as_id_array("val_ids", val_ids)  # (N_val,) int64

    def get_batch(self, split, batch_size, block_size, rng):
        """Draw `batch_size` random windows of `block_size` + 1 tokens from `split`.

        Returns x, y: (B, T) int64, with y[b, t] = x[b, t + 1] (the next token is the target).
        The offsets come from `rng` only, so the same generator state gives the same batch.
        """
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        for name, value in (("batch_size", batch_size), ("block_size", block_size)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        ids = self.train_ids if split == "train" else self.val_ids
        if len(ids) < block_size + 1:
            raise ValueError(
                f"split {split!r} has {len(ids)} tokens, but block_size={block_size} needs at "
                f"least {block_size + 1} (a window plus its next token); use a smaller "
                "block_size, a larger corpus or a larger val_fraction"
            )
        # Offsets o in [0, N - T - 1], so the target window o+1 .. o+T still fits.
        offsets = rng.integers(0, len(ids) - block_size, size=batch_size)  # (B,)
        index = offsets[:, None] + np.arange(block_size)  # (B, T)
        return ids[index], ids[index + 1]  # (B, T), (B, T)

    def __repr__(self):
        return f"TokenData(train={len(self.train_ids)} tokens, val={len(self.val_ids)} tokens)"


def _as_id_array(name, ids):
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(
            f"{name}: expected a 1-d sequence of integer ids, got dtype {ids.dtype} shape "
            f"{ids.shape}"
        )
    if ids.size and ids.min() < 0:
        raise ValueError(f"{name}: expected ids >= 0, got {ids.min()}")
    return ids.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Everything at once


def prepare_data(
    corpus="python-docs",
    tokenizer_kind="char",
    vocab_size=None,
    val_fraction=0.1,
    cache_dir=None,
    tokenizer=None,
):
    """Load, clean, split, train a tokenizer and encode; returns (tokenizer, TokenData).

    The text is split BEFORE the tokenizer is trained (first 1 - val_fraction of the characters
    for training), so BPE merges are learned from training text only: validation text then
    measures how well the model and the tokenizer generalise, with no merge tuned to it.

    The char tokenizer is the exception: its alphabet comes from the whole text. An alphabet only
    says which characters exist, nothing about their order or frequency, and a validation
    character missing from the training part (one rare symbol is enough) could not be encoded at
    all. BPE never has that problem, since it falls back to bytes.

    vocab_size: BPE only (default 512); the char tokenizer's size is set by the alphabet.
    tokenizer: an already trained tokenizer (a resumed or fine-tuned run keeps its model's
    tokenizer); tokenizer_kind and vocab_size are then ignored.
    """
    if tokenizer_kind not in ("char", "bpe"):
        raise ValueError(f'tokenizer_kind: expected "char" or "bpe", got {tokenizer_kind!r}')
    if tokenizer_kind == "char" and vocab_size is not None:
        raise ValueError(
            "vocab_size: the char tokenizer's vocabulary is the text's alphabet, so expected "
            f"None, got {vocab_size!r} (use tokenizer_kind='bpe' to choose a size)"
        )
    text = clean_text(load_corpus(corpus, cache_dir=cache_dir))
    if not text:
        raise ValueError(f"corpus {corpus!r} is empty after clean_text: nothing to train on")
    n_train = _n_train(len(text), val_fraction)
    train_text, val_text = text[:n_train], text[n_train:]
    if not train_text:
        raise ValueError(
            f"val_fraction={val_fraction} leaves no training text out of {len(text)} characters"
        )
    if tokenizer is not None:
        pass  # keep the given tokenizer: its ids are the ones the model was trained on
    elif tokenizer_kind == "char":
        tokenizer = CharTokenizer.train(text)
    else:
        tokenizer = BPETokenizer.train(train_text, 512 if vocab_size is None else vocab_size)
    data = TokenData(tokenizer.encode(train_text), tokenizer.encode(val_text))
    return tokenizer, data
