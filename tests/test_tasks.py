"""The paragraph-classification task built from pydoc's topics.

The exact counts depend on the Python version's topic texts, so the tests check the rules
(caps, balance bounds, topic-disjoint splits, layout) rather than a snapshot; the module
docstring states the 3.11 numbers. Class balance bound: every class holds between 20% and 30%
of every split (25% is perfect balance for four classes).
"""

import numpy as np
import pytest

from tinytransformer.text import topic_task as tasks
from tinytransformer.text.tokenizers import BPETokenizer, CharTokenizer

TOK = BPETokenizer()  # no merges: one id per byte, encodes any text


@pytest.fixture(scope="module")
def task():
    return tasks.load_task(TOK, block_size=48)


def test_clean_paragraph_worked_examples():
    assert tasks.clean_paragraph("  Too\n   short.  ") is None  # 10 characters < MIN_CHARS
    text = "A paragraph that is long enough,\n   spread over two lines."
    assert tasks.clean_paragraph(text) == "A paragraph that is long enough, spread over two lines."
    assert tasks.clean_paragraph("x" * 401) is None  # longer than MAX_CHARS
    assert tasks.clean_paragraph('if_stmt ::= "if" assignment_expression ":" suite') is None
    assert tasks.clean_paragraph("Customizing module attribute access\n*******") is None


def test_deterministic(task):
    again = tasks.load_task(TOK, block_size=48)
    for split in tasks.SPLITS:
        for a, b in zip(task[split], again[split]):
            np.testing.assert_array_equal(a, b)
    # rebuilt from scratch, not from the cache: the same examples in the same order
    first = tasks.task_examples()
    for f in (tasks._examples_by_topic, tasks._split_topics, tasks._task_examples):
        f.cache_clear()
    assert tasks.task_examples() == first


def test_sizes_follow_the_caps(task):
    full = tasks.task_examples(None, None, None)
    capped = tasks.task_examples()
    for split in tasks.SPLITS:
        cap = tasks.DEFAULT_CAPS[split]
        for label in range(len(tasks.LABEL_NAMES)):
            available = sum(1 for e in full[split] if e[1] == label)
            kept = sum(1 for e in capped[split] if e[1] == label)
            assert kept == min(cap, available), (split, label)
            assert kept >= 0.8 * cap, f"{split}: class {label} has only {kept} paragraphs"
        ids, mask, labels = task[split]
        assert len(ids) == len(mask) == len(labels) == len(capped[split])
    assert 200 <= len(capped["train"]) <= 300  # "a few hundred": pretraining can matter
    # a smaller cap keeps a subset: the same rule picks the first paragraphs of each class
    small = tasks.task_examples(train_cap=10)["train"]
    assert len(small) == 40 and set(small) <= set(capped["train"])


def test_splits_are_disjoint_by_topic_and_by_text():
    topics = tasks.split_topics()
    examples = tasks.task_examples(None, None, None)
    for a in tasks.SPLITS:
        assert all(e[2] in topics[a] for e in examples[a])
        for b in tasks.SPLITS:
            if a < b:
                assert not set(topics[a]) & set(topics[b])
                assert not {e[0] for e in examples[a]} & {e[0] for e in examples[b]}
    every = [e[0] for s in tasks.SPLITS for e in examples[s]]
    assert len(every) == len(set(every)), "a paragraph occurs twice"
    for split in tasks.SPLITS:  # every class is present in every split
        assert {e[1] for e in examples[split]} == set(range(len(tasks.LABEL_NAMES)))


def test_class_balance_within_bounds(task):
    for split in tasks.SPLITS:
        _, _, labels = task[split]
        shares = np.bincount(labels, minlength=len(tasks.LABEL_NAMES)) / len(labels)
        assert ((shares >= 0.2) & (shares <= 0.3)).all(), (split, shares)


def test_cls_and_padding_layout(task):
    examples = tasks.task_examples()
    for split in tasks.SPLITS:
        ids, mask, _ = task[split]
        assert ids.dtype == mask.dtype == np.int64 and ids.shape[1] <= 48
        assert (ids[:, 0] == TOK.cls_id).all()
        lengths = mask.sum(axis=1)
        # the mask is ones then zeros: real tokens first, padding after
        np.testing.assert_array_equal(mask, np.arange(ids.shape[1]) < lengths[:, None])
        assert (ids[mask == 0] == TOK.pad_id).all()
        assert not np.isin(ids[:, 1:][mask[:, 1:] == 1], TOK.special_ids).any()
        for row, n, (text, _, _) in zip(ids[:5], lengths[:5], examples[split][:5]):
            assert text.startswith(TOK.decode(row[1:n]))


def test_truncation_and_no_cls():
    tok = CharTokenizer.train("".join(e[0] for s in tasks.SPLITS for e in tasks.task_examples()[s]))
    task = tasks.load_task(tok, block_size=40, add_cls=False)
    ids, mask, _ = task["test"]
    examples = tasks.task_examples()["test"]
    assert ids.shape[1] == 40  # every paragraph has at least 40 characters
    for row, (text, _, _) in zip(ids, examples):
        assert tok.decode(row) == text[:40]  # the first 40 characters, no [CLS]
    with pytest.raises(ValueError, match="block_size: expected a whole number >= 2, got 1"):
        tasks.load_task(tok, block_size=1)


def test_pretraining_text_holds_out_the_evaluation_paragraphs():
    held = tasks.heldout_paragraphs()
    text = tasks.pretraining_text()
    pieces = {tasks.clean_paragraph(p) for p in tasks._BLANK_LINE.split(text)}
    assert not pieces & held
    train = {e[0] for e in tasks.task_examples(None, None, None)["train"]}
    assert train <= pieces  # the training topics stay
    assert not train & held
    only_test = tasks.pretraining_text(holdout=("test",))
    assert len(text) < len(only_test)
    with pytest.raises(ValueError, match="splits: expected a collection of names"):
        tasks.pretraining_text(holdout="test")


def test_describe_reports_the_sizes():
    table = tasks.describe()
    for name in tasks.LABEL_NAMES:
        assert name in table
    total = [len(tasks.task_examples()[s]) for s in tasks.SPLITS]
    assert f"{'total':16s}{total[0]:6d}{total[1]:5d}{total[2]:6d}" in table
    with pytest.raises(ValueError, match="train_cap: expected a whole number >= 1, got 0"):
        tasks.task_examples(train_cap=0)
