"""ROUGE: worked examples computed by hand, edge cases, bad input, and (when rouge-score is
installed) equality with rouge-score to 1e-9 on a few hundred generated inputs."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinytransformer.evaluation.rouge import corpus_rouge, rouge, rouge_multi, rouge_n, tokenize

TOL = 1e-12
ALL_TYPES = ("rouge1", "rouge2", "rouge3", "rougeL", "rougeLsum")


def prf(score):
    return (score.precision, score.recall, score.fmeasure)


def test_tokenize_worked_examples():
    assert tokenize("The CAT's 2 hats, naïve!") == ["the", "cat", "s", "2", "hats", "na", "ve"]
    assert tokenize("日本語 😀 --") == []  # nothing in a-z0-9: no tokens
    assert tokenize("\u212a9") == ["k9"]  # the Kelvin sign lowercases to an ASCII k


def test_word_order_by_hand():
    # target "the cat sat on the mat", prediction "the mat sat on the cat"
    # rouge1: the same six words -> 1. rouge2: target bigrams the-cat cat-sat sat-on on-the
    # the-mat; the prediction has the-cat sat-on on-the the-mat -> 4/5 both ways.
    # rougeL: the longest common subsequence is "the sat on the" (4 words) -> 4/6.
    r = rouge("the cat sat on the mat", "the mat sat on the cat")
    assert prf(r["rouge1"]) == pytest.approx((1.0, 1.0, 1.0), abs=TOL)
    assert prf(r["rouge2"]) == pytest.approx((0.8, 0.8, 0.8), abs=TOL)
    assert prf(r["rougeL"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3), abs=TOL)
    assert prf(r["rougeLsum"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3), abs=TOL)  # one line


def test_repeated_words_are_clipped():
    # "the" once in the prediction, three times in the target: overlap 1.
    r = rouge("the the the", "the", types=("rouge1",))["rouge1"]
    assert prf(r) == pytest.approx((1.0, 1 / 3, 0.5), abs=TOL)


def test_rougelsum_is_sentence_order_free():
    # rougeL reads "a b c d" vs "c d a b": LCS 2 -> 0.5. rougeLsum matches sentence by
    # sentence: "a b" finds "a b", "c d" finds "c d" -> 4 hits of 4 -> 1.
    r = rouge("a b\nc d", "c d\na b", types=("rougeL", "rougeLsum"))
    assert prf(r["rougeL"]) == pytest.approx((0.5, 0.5, 0.5), abs=TOL)
    assert prf(r["rougeLsum"]) == pytest.approx((1.0, 1.0, 1.0), abs=TOL)


def test_rougelsum_does_not_double_count():
    # target "a b"; prediction "a b" twice. The union LCS of the target sentence has a and b,
    # each counted once: hits 2, so precision 2/4, recall 2/2, F1 2/3.
    r = rouge("a b", "a b\na b", types=("rougeLsum",))["rougeLsum"]
    assert prf(r) == pytest.approx((0.5, 1.0, 2 / 3), abs=TOL)


def test_empty_texts_score_zero():
    for target, prediction in [("", "a b"), ("a b", ""), ("", ""), ("!!", "a"), ("\n\n", "a")]:
        for name, s in rouge(target, prediction, types=ALL_TYPES).items():
            assert prf(s) == (0.0, 0.0, 0.0), (target, prediction, name)


def test_multi_and_corpus_by_hand():
    best = rouge_multi(["x y", "a b", "a c"], "a b", types=("rouge1",))["rouge1"]
    assert prf(best) == pytest.approx((1.0, 1.0, 1.0), abs=TOL)
    # pair 1: rouge1 F1 1; pair 2: "a b c" vs "a x": P 1/2, R 1/3, F1 2/5 -> mean F1 0.7
    c = corpus_rouge(["a b", "a b c"], ["a b", "a x"], types=("rouge1",))["rouge1"]
    assert prf(c) == pytest.approx(((1 + 1 / 2) / 2, (1 + 1 / 3) / 2, (1 + 2 / 5) / 2), abs=TOL)
    # a list of targets per pair picks the best one, as rouge_multi
    c2 = corpus_rouge([["q", "a b"]], ["a b"], types=("rouge1",))["rouge1"]
    assert c2.fmeasure == pytest.approx(1.0, abs=TOL)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: rouge(["a"], "a"), TypeError, "target: expected a string"),
        (lambda: rouge("a", None), TypeError, "prediction: expected a string"),
        (lambda: rouge("a", "a", types="rouge1"), TypeError, "types"),
        (lambda: rouge("a", "a", types=("rouge0",)), ValueError, "'rouge0'"),
        (lambda: rouge("a", "a", types=("rougeW",)), ValueError, "'rougeW'"),
        (lambda: corpus_rouge(["a", "b"], ["a"]), ValueError, "2 targets and 1 predictions"),
        (lambda: corpus_rouge([], []), ValueError, "at least one pair"),
        (lambda: corpus_rouge("a", "a"), TypeError, "targets: expected a list"),
        (lambda: rouge_multi("a", "a"), TypeError, "targets"),
    ],
)
def test_bad_input_names_the_argument(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


# ----------------------------------------------------------------------------- vs rouge-score

# Few distinct words and many newlines, so LCSs tie often and the rougeLsum union is exercised.
WORDS = [
    "a",
    "b",
    "c",
    "A",
    "b.",
    "c,c",
    "don't",
    "3",
    "3.5",
    "naïve",
    "\u212a",
    "日本",
    "—",
    "the",
]
SEPS = [" ", " ", "\n", "", "\t", " - ", "\n\n", "\r\n"]
text = st.one_of(
    st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPS)), max_size=16).map(
        lambda pairs: "".join(w + s for w, s in pairs)
    ),
    st.text(alphabet="ab ab\n.,éK", max_size=20),
)
SETTINGS = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _assert_same(ours, ref):
    assert ours.keys() == ref.keys()
    for name in ref:
        assert prf(ours[name]) == pytest.approx(tuple(ref[name]), abs=1e-9), name


@SETTINGS
@given(target=text, prediction=text)
def test_rouge_equals_rouge_score(target, prediction):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    ref = rouge_scorer.RougeScorer(list(ALL_TYPES)).score(target, prediction)
    _assert_same(rouge(target, prediction, types=ALL_TYPES), ref)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(targets=st.lists(text, min_size=1, max_size=3), prediction=text)
def test_rouge_multi_equals_rouge_score(targets, prediction):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    ref = rouge_scorer.RougeScorer(list(ALL_TYPES)).score_multi(targets, prediction)
    _assert_same(rouge_multi(targets, prediction, types=ALL_TYPES), ref)


# ----------------------------------------------------------------------------- rouge_n on tokens


def test_rouge_n_by_hand():
    # candidate "the cat sat on the mat" has bigrams the-cat cat-sat sat-on on-the the-mat;
    # reference "the cat is on the mat": the-cat cat-is is-on on-the the-mat. Shared: the-cat,
    # on-the, the-mat -> 3 of 5 each way.
    cand, ref = "the cat sat on the mat".split(), "the cat is on the mat".split()
    assert rouge_n(cand, ref, 2) == pytest.approx((0.6, 0.6, 0.6), abs=TOL)
    # unigrams clipped: "the" twice in each, so 5 of 6 shared
    assert rouge_n(cand, ref, 1) == pytest.approx((5 / 6, 5 / 6, 5 / 6), abs=TOL)
    # P and R differ when the lengths do: "a a b" vs "a": overlap 1, P 1/3, R 1, F1 1/2
    assert rouge_n(["a", "a", "b"], ["a"], 1) == pytest.approx((1 / 3, 1.0, 0.5), abs=TOL)


def test_rouge_n_without_ngrams_is_zero():
    for cand, ref, n in [([], ["a"], 1), (["a"], [], 1), (["a"], ["a"], 2), ([], [], 3)]:
        assert rouge_n(cand, ref, n) == (0.0, 0.0, 0.0)


def test_rouge_n_is_what_the_rouge_n_scores_use():
    target, prediction = "a b a c b a", "b a c a a"
    for n in (1, 2, 3):
        want = rouge_n(tokenize(prediction), tokenize(target), n)
        assert prf(rouge(target, prediction, types=(f"rouge{n}",))[f"rouge{n}"]) == want


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: rouge_n("a b", ["a"], 1), TypeError, "candidate: expected a list of tokens"),
        (lambda: rouge_n(["a"], None, 1), TypeError, "reference: expected a list of tokens"),
        (lambda: rouge_n(["a"], ["a"], 0), ValueError, "n: expected a whole number >= 1"),
    ],
)
def test_rouge_n_bad_input(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(target=text, prediction=text, n=st.integers(1, 4))
def test_rouge_n_equals_rouge_score(target, prediction, n):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    ref = rouge_scorer.RougeScorer([f"rouge{n}"]).score(target, prediction)[f"rouge{n}"]
    ours = rouge_n(tokenize(prediction), tokenize(target), n)
    assert ours == pytest.approx(tuple(ref), abs=1e-12)
