"""BLEU: worked examples computed by hand, edge cases, bad input, and (when sacrebleu is
installed) equality with sacrebleu to 1e-9 on a few hundred generated inputs."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinytransformer.evaluation.bleu import (
    brevity_penalty,
    clipped_precision,
    corpus_bleu,
    sentence_bleu,
    tokenize_13a,
)

TOL = 1e-9  # scores are on the 0-100 scale


# ----------------------------------------------------------------------------- tokenisation


@pytest.mark.parametrize(
    "line, tokens",
    [
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        ("3.14 and 1,000.", ["3.14", "and", "1,000", "."]),  # digit-internal . and , stay
        ("1990-2000 e-mail", ["1990", "-", "2000", "e-mail"]),  # dash split only after a digit
        ("don't", ["don't"]),  # the apostrophe is not split off
        ("&amp;lt; &quot;hi&quot;", ["<", '"', "hi", '"']),  # XML escapes undone, &amp; first
        ("a-\nb <skipped>c", ["ab", "c"]),  # a hyphen at a line end joins the word
        ("naïve café 日本語 😀", ["naïve", "café", "日本語", "😀"]),  # non-ASCII untouched
        ("a..", ["a", ".", "."]),
        ("", []),
    ],
)
def test_tokenize_13a_worked_examples(line, tokens):
    assert tokenize_13a(line) == tokens


# ----------------------------------------------------------------------------- worked examples


def test_one_reference_by_hand():
    # hyp "the cat sat on the mat" vs ref "the cat sat on a mat":
    # 1-grams: the(2, clipped to 1) cat sat on mat -> 5/6
    # 2-grams: the cat, cat sat, sat on | on the, the mat -> 3/5
    # 3-grams: the cat sat, cat sat on | sat on the, on the mat -> 2/4
    # 4-grams: the cat sat on | cat sat on the, sat on the mat -> 1/3
    # equal lengths -> BP = 1; BLEU = 100 * (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = 100 * 12 ** -0.25
    b = corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]])
    assert b.score == pytest.approx(100 * 12**-0.25, abs=TOL)
    assert b.precisions == pytest.approx([500 / 6, 60.0, 50.0, 100 / 3], abs=TOL)
    assert (b.counts, b.totals) == ([5, 3, 2, 1], [6, 5, 4, 3])
    assert (b.bp, b.sys_len, b.ref_len) == (1.0, 6, 6)


def test_repeated_ngrams_are_clipped():
    # "the" x7 may match only as often as the reference has it (twice): unigram precision 2/7.
    b = corpus_bleu(["the the the the the the the"], [["the cat is on the mat"]])
    assert b.precisions[0] == pytest.approx(100 * 2 / 7, abs=TOL)
    assert b.counts[1] == 0  # "the the" is not in the reference


def test_brevity_penalty_and_effective_order():
    # hyp "the cat" (c = 2) vs a 6-token reference: BP = exp(1 - 6/2) = exp(-2).
    # Only orders 1 and 2 exist, both 100%. Corpus BLEU (all four orders) is 0: orders 3 and 4
    # have no n-grams at all. Sentence BLEU (effective order 2): 100 * exp(-2).
    hyp, ref = "the cat", "the cat sat on the mat"
    assert corpus_bleu([hyp], [[ref]]).score == 0.0
    s = sentence_bleu(hyp, [ref])
    assert s.bp == pytest.approx(math.exp(-2), abs=1e-15)
    assert s.score == pytest.approx(100 * math.exp(-2), abs=TOL)
    on = corpus_bleu([hyp], [[ref]], use_effective_order=True)
    assert on.score == pytest.approx(100 * math.exp(-2), abs=TOL)


@pytest.mark.parametrize(
    "method, value, expected",
    [
        # hyp "a b c d" vs ref "a b x d": matches 3/4, 1/3, 0/2, 0/1.
        # exp: the k-th empty order gets 1 / 2**k of a match: p3 = 1/(2*2), p4 = 1/(4*1)
        ("exp", None, 100 * (3 / 4 * 1 / 3 * 1 / 4 * 1 / 4) ** 0.25),
        # floor 0.1: p3 = 0.1/2, p4 = 0.1/1
        ("floor", None, 100 * (3 / 4 * 1 / 3 * 0.05 * 0.1) ** 0.25),
        ("floor", 0.5, 100 * (3 / 4 * 1 / 3 * 0.25 * 0.5) ** 0.25),
        # add-k 1 on orders 2..4: 2/4, 1/3, 1/2
        ("add-k", None, 100 * (3 / 4 * 2 / 4 * 1 / 3 * 1 / 2) ** 0.25),
        ("add-k", 2, 100 * (3 / 4 * 3 / 5 * 2 / 4 * 2 / 3) ** 0.25),
        ("none", None, 0.0),
    ],
)
def test_smoothing_by_hand(method, value, expected):
    b = corpus_bleu(["a b c d"], [["a b x d"]], smooth_method=method, smooth_value=value)
    assert b.score == pytest.approx(expected, abs=TOL)


def test_closest_reference_length_ties_go_to_the_shorter():
    # c = 3; references of lengths 2 and 4 are equally close: r = 2, so BP = 1 (not exp(1-4/3)).
    b = corpus_bleu(["a b c"], [["a b"], ["a b c d"]], use_effective_order=True)
    assert (b.sys_len, b.ref_len, b.bp) == (3, 2, 1.0)
    assert b.precisions[:3] == pytest.approx([100.0, 100.0, 100.0], abs=TOL)  # via ref 2


def test_lowercase_and_corpus_sums():
    b = corpus_bleu(["The Cat", "a"], [["the cat", "A"]], lowercase=True, use_effective_order=True)
    assert (b.counts[:2], b.totals[:2]) == ([3, 1], [3, 1])
    assert b.score == pytest.approx(100.0, abs=TOL)
    assert corpus_bleu(["The Cat"], [["the cat"]], use_effective_order=True).counts[0] == 0


# ----------------------------------------------------------------------------- edge cases


def test_empty_hypothesis_and_empty_reference():
    empty_hyp = corpus_bleu([""], [["a b c"]])
    assert (empty_hyp.score, empty_hyp.bp, empty_hyp.sys_len, empty_hyp.ref_len) == (0.0, 0.0, 0, 3)
    empty_ref = corpus_bleu(["a b c"], [[""]])
    assert (empty_ref.score, empty_ref.bp, empty_ref.ref_len) == (0.0, 1.0, 0)
    assert sentence_bleu("", [""]).score == 0.0


def test_short_hypothesis_and_none_references():
    s = sentence_bleu("hello", ["hello"])  # one token: effective order 1
    assert s.score == pytest.approx(100.0, abs=TOL)
    # None marks a missing reference in sacrebleu's layout: segment 1 has only stream 0.
    b = corpus_bleu(["a b", "c d"], [["a b", "c d"], ["x y", None]], use_effective_order=True)
    assert b.score == pytest.approx(100.0, abs=TOL)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "hyps, refs, error, words",
    [
        (["a", "b"], [["a"]], ValueError, "references[0]: expected 2 segments"),
        (["a"], ["a"], TypeError, "pass [refs]"),
        ("a", [["a"]], TypeError, "hypotheses: expected a list of strings"),
        (["a", 3], [["a", "b"]], TypeError, "hypotheses[1]"),
        ([], [[]], ValueError, "at least one segment"),
        (["a"], [], ValueError, "at least one reference stream"),
        (["a"], [[None]], ValueError, "segment 0 has no reference"),
        (["a"], [[b"a"]], TypeError, "references[0][0]"),
    ],
)
def test_bad_input_names_the_argument(hyps, refs, error, words):
    with pytest.raises(error) as info:
        corpus_bleu(hyps, refs)
    assert words in str(info.value)


def test_bad_options_and_sentence_arguments():
    with pytest.raises(ValueError, match="smooth_method"):
        corpus_bleu(["a"], [["a"]], smooth_method="add-one")
    with pytest.raises(ValueError, match="tokenize"):
        corpus_bleu(["a"], [["a"]], tokenize="intl")
    with pytest.raises(TypeError, match="references: expected a list of reference strings"):
        sentence_bleu("a", "a")
    with pytest.raises(TypeError, match="hypothesis"):
        sentence_bleu(["a"], ["a"])


# ----------------------------------------------------------------------------- vs sacrebleu

# Words chosen to exercise every 13a rule: punctuation, digits with . , -, XML escapes,
# <skipped>, non-ASCII letters (some change length when lowercased), emoji, repeats.
WORDS = [
    "the", "The", "THE", "cat", "cats", "a", "A", "3.14", "1,000", "1990-2000", "it's", "U.S.",
    "e-mail", "-", ".", ",", "...", "&amp;", "&lt;", "&quot;", "&", "<skipped>", "naïve", "Café",
    "ÉCOLE", "straße", "İstanbul", "\u212a", "日本語", "😀", "x", "y", "0", "42", "5.", ".5", "(",
    "$", "%", "'", '"', "!?", "a.b", "a,b",
]  # fmt: skip
SEPS = [" ", " ", " ", "", "\n", "\t", "-\n", "\u00a0", "\r", "  "]
segment = st.one_of(
    st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPS)), max_size=12).map(
        lambda pairs: "".join(w + s for w, s in pairs)
    ),
    st.text(alphabet=" .,-&;:aAbB019\n\u00e9", max_size=15),
)


@st.composite
def corpora(draw):
    n = draw(st.integers(1, 4))
    hyps = draw(st.lists(segment, min_size=n, max_size=n))
    refs = draw(st.lists(st.lists(segment, min_size=n, max_size=n), min_size=1, max_size=3))
    if draw(st.booleans()):  # make the first stream overlap the hypotheses so scores are > 0
        extra = draw(st.lists(st.sampled_from(WORDS), min_size=n, max_size=n))
        refs[0] = [h + " " + e if draw(st.booleans()) else h for h, e in zip(hyps, extra)]
    return hyps, refs


options = st.fixed_dictionaries(
    {
        "smooth_method": st.sampled_from(["exp", "floor", "add-k", "none"]),
        "smooth_value": st.sampled_from([None, None, 0.0, 0.5, 2]),
        "lowercase": st.booleans(),
        "tokenize": st.sampled_from(["13a", "13a", "none"]),
    }
)
SETTINGS = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _assert_same(ours, ref):
    assert ours.score == pytest.approx(ref.score, abs=TOL)
    assert ours.precisions == pytest.approx(ref.precisions, abs=TOL)
    assert ours.bp == pytest.approx(ref.bp, abs=1e-12)
    assert (ours.sys_len, ours.ref_len) == (ref.sys_len, ref.ref_len)


@SETTINGS
@given(corpus=corpora(), opts=options, effective=st.booleans())
def test_corpus_bleu_equals_sacrebleu(corpus, opts, effective):
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = corpus
    ref = sacrebleu.corpus_bleu(hyps, refs, use_effective_order=effective, **opts)
    _assert_same(corpus_bleu(hyps, refs, use_effective_order=effective, **opts), ref)


@SETTINGS
@given(corpus=corpora(), opts=options)
def test_sentence_bleu_equals_sacrebleu(corpus, opts):
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = corpus
    hyp, sentence_refs = hyps[0], [stream[0] for stream in refs]
    ref = sacrebleu.sentence_bleu(hyp, sentence_refs, **opts)
    _assert_same(sentence_bleu(hyp, sentence_refs, **opts), ref)


# ----------------------------------------------------------------------------- the two parts


def test_clipped_precision_worked_examples():
    cand = "the cat sat on the mat".split()
    ref = "the cat sat on a mat".split()
    assert [clipped_precision(cand, [ref], n) for n in (1, 2, 3, 4)] == [
        (5, 6),
        (3, 5),
        (2, 4),
        (1, 3),
    ]
    # clipped to the largest count in ONE reference (2 "the"), not the sum over references (3)
    refs = [["the", "the", "cat"], ["the", "dog"]]
    assert clipped_precision(["the"] * 4, refs, 1) == (2, 4)
    assert clipped_precision(["a", "b"], [["a", "b"]], 3) == (0, 0)  # shorter than n
    assert clipped_precision(["a", "b"], [], 1) == (0, 2)  # no reference: nothing matches


def test_brevity_penalty_worked_examples():
    assert brevity_penalty(7, 6) == 1.0
    assert brevity_penalty(6, 6) == 1.0  # exp(1 - 6/6) = exp(0)
    assert brevity_penalty(3, 6) == pytest.approx(math.exp(-1), abs=1e-15)
    assert brevity_penalty(0, 5) == 0.0
    assert brevity_penalty(0, 0) == 0.0  # nothing said earns nothing, even against nothing
    # ... while corpus_bleu reports sacrebleu's BP = 1 there (its score is 0 either way)
    empty = corpus_bleu([""], [[""]])
    assert (empty.score, empty.bp) == (0.0, 1.0)


@SETTINGS
@given(corpus=corpora())
def test_corpus_bleu_is_built_from_the_two_parts(corpus):
    hyps, refs = corpus
    b = corpus_bleu(hyps, refs, tokenize="none")
    hyp_tokens = [h.rstrip().split() for h in hyps]
    ref_tokens = [[s[i].rstrip().split() for s in refs] for i in range(len(hyps))]
    for n in range(1, 5):
        parts = [clipped_precision(h, r, n) for h, r in zip(hyp_tokens, ref_tokens, strict=True)]
        assert b.counts[n - 1] == sum(m for m, _ in parts)
        assert b.totals[n - 1] == sum(t for _, t in parts)
    if b.sys_len:
        assert b.bp == brevity_penalty(b.sys_len, b.ref_len)
