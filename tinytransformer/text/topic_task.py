"""A labelled task for fine-tuning: which kind of Python documentation does a paragraph come from?

The text is the embedded corpus, pydoc's topics (`from pydoc_data.topics import topics`, a dict
topic name -> text, the same text corpora.load_corpus("python-docs") joins). Each paragraph gets
the class of its topic, one of four:

    0 statements      simple and compound statements: assert, import, try, with, def, class ...
    1 expressions     literals, identifiers, operators and expressions: calls, comparisons ...
    2 data model      objects and special methods: __getattr__, __len__, the type hierarchy ...
    3 built-in types  library reference of built-in types: str methods, dict, format strings ...

The rule is a table written out by hand (_TOPICS_BY_CLASS below; TOPIC_CLASSES maps each topic
to its class index). Topics not in it (debugger, execmodel, naming, exceptions,
dynamic-features, and any topic a newer Python adds) are not labelled; they stay available for
pretraining.

How paragraphs are made, in order:
1. A topic's text is cut at blank lines; each piece has its runs of whitespace (line breaks,
   indentation) collapsed to one space and is stripped.
2. A piece is kept if it has 40..400 characters, holds no grammar rule ("::=", which would give
   the class away) and no heading underline (a run of four "*", "=", "-", "~" or "^").
3. Duplicates: umbrella topics repeat their sub-topics ("compound" holds "if", "for", "try" ...;
   "specialnames" holds "customization" ...). A paragraph found in several topics belongs to the
   one with the shortest text (the most specific; ties by name); if those topics have different
   classes, the paragraph is dropped as ambiguous.

Splits are BY TOPIC, so validation and test paragraphs come from topics never seen in training.
Within each class, topics are taken from the largest to the smallest (ties by name) and each one
goes to the split that is furthest below its target share of the class's paragraphs
(train 60%, val 15%, test 25%): the greedy rule for partitioning numbers, which lands close to
the targets without anything random. Finally each split keeps at most `cap` paragraphs per class
(train 75, val 30, test 50 by default: a small train set, so that pretraining can matter, and
balanced evaluation sets), the ones with the smallest crc32 of their text: an arbitrary but fixed
choice that needs no random generator. Examples are ordered by that crc32 as well, so classes
interleave.

Sizes with Python 3.11's topics, as `describe()` prints them (other Python versions ship other
topic texts, and the numbers move a little):

    class            train  val  test   (before the caps: train / val / test)
    statements          75   30    50   (210 / 52 / 89)
    expressions         75   30    50   (121 / 30 / 50)
    data model          75   30    50   (197 / 51 / 79)
    built-in types      75   30    50   (183 / 52 / 75)
    total              300  120   200

Hold the evaluation text out of pretraining with `pretraining_text()`: the corpus without the
val and test topics and without any paragraph equal to a val or test example (umbrella topics
repeat them); with 3.11's topics that keeps 282k of the corpus's 465k characters.

How hard is it? Chance is 25%. A bag-of-words logistic regression trained on the 300 train
paragraphs fits them (100%) but scores about 50% on test: the classes share much vocabulary,
and the test topics are unseen, so a model must generalise from one topic to its neighbours.

Left out: other tasks, stratified k-fold, and sentence-pair inputs ([SEP] is never inserted).
"""

import functools
import re
import zlib
from pydoc_data.topics import topics as PYDOC_TOPICS

import numpy as np

from tinytransformer.checks import check_count
from tinytransformer.text.batching import pad_batch

LABEL_NAMES = ("statements", "expressions", "data model", "built-in types")
SPLITS = ("train", "val", "test")
TARGET_SHARES = {"train": 0.60, "val": 0.15, "test": 0.25}
DEFAULT_CAPS = {"train": 75, "val": 30, "test": 50}  # paragraphs per class and split
MIN_CHARS, MAX_CHARS = 40, 400

_TOPICS_BY_CLASS = {
    "statements": """assert assignment async augassign break class compound continue del else
        for function global if import nonlocal pass raise return try while with yield""",
    "expressions": """atom-identifiers atom-literals attribute-references await binary bitwise
        booleans calls comparisons conversions dict exprlists floating id-classes identifiers
        imaginary in integers lambda lists numbers operator-summary power shifting slicings
        strings subscriptions unary""",
    "data model": """attribute-access callable-types context-managers customization
        numeric-types objects sequence-types specialattrs specialnames types""",
    "built-in types": """bltin-code-objects bltin-ellipsis-object bltin-null-object
        bltin-type-objects formatstrings string-methods truth typesfunctions typesmapping
        typesmethods typesmodules typesseq typesseq-mutable""",
}
# topic name -> class index
TOPIC_CLASSES = {
    topic: LABEL_NAMES.index(label)
    for label, names in _TOPICS_BY_CLASS.items()
    for topic in names.split()
}

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_UNDERLINE = re.compile(r"([*=\-~^])\1{3,}")


def _topics():
    """pydoc's topics, topic name -> text: the corpus corpora.load_corpus("python-docs") joins."""
    return PYDOC_TOPICS


def clean_paragraph(raw):
    """One blank-line-separated piece of a topic -> its cleaned text, or None if not kept.

    >>> clean_paragraph("  The *if* statement\\n     selects one of the suites.  ")
    'The *if* statement selects one of the suites.'
    >>> clean_paragraph("Title\\n*****") is None  # too short, and a heading
    True
    """
    text = " ".join(raw.split())
    if not MIN_CHARS <= len(text) <= MAX_CHARS or "::=" in text or _UNDERLINE.search(text):
        return None
    return text


@functools.cache
def _examples_by_topic():
    """topic -> tuple of its paragraphs after de-duplication (step 3 of the module docstring)."""
    topics = _topics()
    where = {}  # paragraph -> the labelled topics it occurs in
    for topic in sorted(set(topics) & set(TOPIC_CLASSES)):
        for raw in _BLANK_LINE.split(topics[topic]):
            text = clean_paragraph(raw)
            if text is not None:
                where.setdefault(text, set()).add(topic)
    by_topic = {topic: [] for topic in sorted(set(topics) & set(TOPIC_CLASSES))}
    for text, found_in in where.items():
        if len({TOPIC_CLASSES[t] for t in found_in}) > 1:
            continue  # ambiguous: the same words stand for two classes
        owner = min(found_in, key=lambda t: (len(topics[t]), t))
        by_topic[owner].append(text)
    return {topic: tuple(texts) for topic, texts in by_topic.items()}


def split_topics():
    """split -> tuple of topic names, by the greedy rule of the module docstring."""
    return dict(_split_topics())


@functools.cache
def _split_topics():
    by_topic = _examples_by_topic()
    splits = {s: [] for s in SPLITS}
    for label in range(len(LABEL_NAMES)):
        topics = [t for t in by_topic if TOPIC_CLASSES[t] == label]
        total = sum(len(by_topic[t]) for t in topics)
        filled = dict.fromkeys(SPLITS, 0)
        for topic in sorted(topics, key=lambda t: (-len(by_topic[t]), t)):
            split = max(SPLITS, key=lambda s: TARGET_SHARES[s] * total - filled[s])
            splits[split].append(topic)
            filled[split] += len(by_topic[topic])
    return {s: tuple(sorted(ts)) for s, ts in splits.items()}


def task_examples(
    train_cap=DEFAULT_CAPS["train"], val_cap=DEFAULT_CAPS["val"], test_cap=DEFAULT_CAPS["test"]
):
    """split -> tuple of (text, label, topic), each split holding at most `<split>_cap`
    paragraphs per class (None: all of them), ordered by the crc32 of the text."""
    caps = {"train": train_cap, "val": val_cap, "test": test_cap}
    for split, cap in caps.items():
        check_count(f"{split}_cap", cap, low=1, allow_none=True)
    return dict(_task_examples(train_cap, val_cap, test_cap))


@functools.cache
def _task_examples(train_cap, val_cap, test_cap):
    caps = {"train": train_cap, "val": val_cap, "test": test_cap}
    by_topic = _examples_by_topic()
    out = {}
    for split, topics in split_topics().items():
        examples = []
        for label in range(len(LABEL_NAMES)):
            ours = [(x, label, t) for t in topics if TOPIC_CLASSES[t] == label for x in by_topic[t]]
            ours.sort(key=_order)
            examples += ours[: caps[split]]  # [:None] keeps all
        out[split] = tuple(sorted(examples, key=_order))
    return out


def _order(example):
    """Sort key of an example: the crc32 of its text (a fixed shuffle), then the text."""
    text = example[0]
    return zlib.crc32(text.encode("utf-8")), text


def load_task(
    tokenizer,
    block_size,
    add_cls=True,
    train_cap=DEFAULT_CAPS["train"],
    val_cap=DEFAULT_CAPS["val"],
    test_cap=DEFAULT_CAPS["test"],
):
    """The task as arrays: split -> (ids (N, T), attention_mask (N, T), labels (N,)), int64.

    Each paragraph is encoded with `tokenizer` (plain text: a literal "[CLS]" in it stays
    characters), [CLS] is put first when add_cls (for the encoder, whose classifier pools
    position 0; a GPT reads the last real token and needs none), and the ids are truncated to
    block_size (keeping the start) and right-padded with [PAD] to the longest row of the split,
    T <= block_size. Class names are LABEL_NAMES; the caps are those of task_examples.

    >>> from tinytransformer.text.tokenizers import BPETokenizer
    >>> task = load_task(BPETokenizer(), block_size=32)
    >>> ids, mask, labels = task["train"]
    >>> ids.shape, labels.shape, int(ids[0, 0]) == BPETokenizer().cls_id
    ((300, 32), (300,), True)
    """
    check_count("block_size", block_size, low=2)
    prefix = [tokenizer.cls_id] if add_cls else []
    out = {}
    for split, examples in task_examples(train_cap, val_cap, test_cap).items():
        rows = [prefix + tokenizer.encode(text) for text, _, _ in examples]
        ids, mask = pad_batch(rows, tokenizer.pad_id, block_size)  # (N, T) each
        labels = np.array([label for _, label, _ in examples], dtype=np.int64)  # (N,)
        out[split] = (ids, mask, labels)
    return out


# --- what pretraining must not see ---------------------------------------------------------------


def heldout_paragraphs(splits=("val", "test")):
    """Every paragraph of the given splits' topics, before any cap (a frozenset of str)."""
    _check_splits(splits)
    by_topic = _examples_by_topic()
    topics = split_topics()
    return frozenset(x for s in splits for t in topics[s] for x in by_topic[t])


def heldout_text(splits=("val", "test")):
    """The whole text of the given splits' topics, joined by blank lines (a str): what a
    pretraining corpus from elsewhere must not overlap (docstrings.stdlib_docstrings)."""
    _check_splits(splits)
    topics = _topics()
    return "\n\n".join(topics[t] for s in splits for t in split_topics()[s])


def pretraining_text(holdout=("val", "test")):
    """The python-docs corpus without the held-out evaluation text.

    Like corpora.load_corpus("python-docs") (the topics in sorted order, joined by a blank line),
    minus the topics of the `holdout` splits, and minus every blank-line-separated piece of the
    other topics whose cleaned form is a held-out paragraph. Pieces are re-joined with one
    blank line, so a run of blank lines inside a topic becomes one.
    """
    _check_splits(holdout)
    topics = _topics()
    drop_topics = {t for s in holdout for t in split_topics()[s]}
    drop_text = heldout_paragraphs(holdout)
    kept = []
    for name in sorted(topics):
        if name in drop_topics:
            continue
        pieces = _BLANK_LINE.split(topics[name])
        kept.append("\n\n".join(p for p in pieces if clean_paragraph(p) not in drop_text))
    return "\n\n".join(kept)


def _check_splits(splits):
    if isinstance(splits, str) or not set(splits) <= set(SPLITS):
        raise ValueError(f"splits: expected a collection of names from {SPLITS}, got {splits!r}")


# --- a table for the reader ----------------------------------------------------------------------


def describe(
    train_cap=DEFAULT_CAPS["train"], val_cap=DEFAULT_CAPS["val"], test_cap=DEFAULT_CAPS["test"]
):
    """A table of examples per class and split (before the caps in brackets) and the topics."""
    capped = task_examples(train_cap, val_cap, test_cap)
    full = task_examples(None, None, None)

    def count(examples, label):
        return sum(1 for e in examples if e[1] == label)

    lines = [f"{'class':16s}{'train':>6s}{'val':>5s}{'test':>6s}   (before the caps)"]
    for label, name in enumerate(LABEL_NAMES):
        n = [count(capped[s], label) for s in SPLITS]
        m = " / ".join(str(count(full[s], label)) for s in SPLITS)
        lines.append(f"{name:16s}{n[0]:6d}{n[1]:5d}{n[2]:6d}   ({m})")
    n = [len(capped[s]) for s in SPLITS]
    lines.append(f"{'total':16s}{n[0]:6d}{n[1]:5d}{n[2]:6d}")
    for split, topics in split_topics().items():
        lines.append(f"{split} topics: {' '.join(topics)}")
    return "\n".join(lines)
