"""The exercises of chapter 6 (实际应用场景, applications): the metrics its four demos are scored
by. ROUGE-N of two token lists (summarisation), distinct-n of a set of generated texts (content
creation), and macro F1 of a confusion matrix (intent routing).

The references are the library's: evaluation.rouge.rouge_n, evaluation.diversity.distinct_n and
evaluation.classification.macro_f1. Inputs are lists of string tokens and (K, K) count arrays
(float64 in the checks, whole numbers in them), plain data that crosses into a graded notebook
as it is.
"""

import numpy as np

from tinytransformer.evaluation.classification import macro_f1
from tinytransformer.evaluation.diversity import distinct_n
from tinytransformer.evaluation.rouge import rouge_n
from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property

WORDS = ("the", "cat", "sat", "on", "mat", "a", "dog")


def _grams(tokens, n):
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _ratio(a, b):
    return a / b if b else 0.0


def _words(rng, low, high, vocab=WORDS):
    """A list of low..high-1 words from a small vocabulary (so n-grams repeat and overlap)."""
    return [str(w) for w in rng.choice(vocab, size=int(rng.integers(low, high)))]


def _in_unit_interval(values, names):
    for name, v in zip(names, values, strict=True):
        if not isinstance(v, int | float | np.floating | np.integer) or not 0.0 <= v <= 1.0:
            return f"{name} is {v!r}, outside [0, 1]"
    return None


# --- 6.1 rouge_n ----------------------------------------------------------------------------------


def _rouge_case(name, candidate, reference, n):
    return Case(name, {"candidate": list(candidate), "reference": list(reference), "n": n})


def _rouge_edge_cases():
    s = str.split
    return [
        _rouge_case(
            "bigrams: 'the cat sat on the mat' vs 'the cat on the mat'",
            s("the cat sat on the mat"),
            s("the cat on the mat"),
            2,
        ),
        _rouge_case(
            "a repeated word is clipped: 'the the the' vs 'the cat'",
            s("the the the"),
            s("the cat"),
            1,
        ),
        _rouge_case(
            "the reference repeats: 'the' vs 'the the the cat'", s("the"), s("the the the cat"), 1
        ),
        _rouge_case("an empty candidate", [], s("the cat"), 1),
        _rouge_case("both shorter than n = 3: no trigrams", s("a b"), s("a b"), 3),
        _rouge_case("nothing shared", s("a b c"), s("d e f"), 1),
        _rouge_case("identical texts, n = 2", s("a b a b c"), s("a b a b c"), 2),
        _rouge_case("repeated bigrams on both sides, n = 2", s("a b a b a b"), s("a b x a b"), 2),
    ]


def _rouge_random_cases(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(1, 4))
        cand, ref = _words(rng, 0, 12), _words(rng, 1, 12)
        cases.append(_rouge_case(f"random: {len(cand)} vs {len(ref)} words, n = {n}", cand, ref, n))
    return cases


def _rouge_no_clipping(candidate, reference, n):
    cand, ref = _grams(candidate, n), set(_grams(reference, n))
    overlap = sum(1 for g in cand if g in ref)  # every candidate n-gram found, however often
    p, r = _ratio(overlap, len(cand)), _ratio(overlap, len(_grams(reference, n)))
    return p, r, _ratio(2 * p * r, p + r)


def _rouge_swapped(candidate, reference, n):
    p, r, f = rouge_n(candidate, reference, n)
    return r, p, f


def _rouge_sets(candidate, reference, n):
    cand, ref = set(_grams(candidate, n)), set(_grams(reference, n))
    overlap = len(cand & ref)
    p, r = _ratio(overlap, len(cand)), _ratio(overlap, len(ref))
    return p, r, _ratio(2 * p * r, p + r)


def _rouge_mean_f(candidate, reference, n):
    p, r, _ = rouge_n(candidate, reference, n)
    return p, r, (p + r) / 2


def _rouge_range(inputs, got):
    return _in_unit_interval(got, ("precision", "recall", "f1"))


def _rouge_counts(inputs, got):
    """precision and recall are the same whole number (the overlap) over the two counts."""
    n = inputs["n"]
    n_cand, n_ref = len(_grams(inputs["candidate"], n)), len(_grams(inputs["reference"], n))
    p, r = float(got[0]), float(got[1])
    if n_cand and n_ref and abs(p * n_cand - r * n_ref) > 1e-9:
        return (
            f"precision x {n_cand} candidate n-grams = {p * n_cand:.4g} but recall x {n_ref} "
            f"reference n-grams = {r * n_ref:.4g}: both should be the same overlap count"
        )
    return None


def _rouge_f_between(inputs, got):
    p, r, f = (float(v) for v in got)
    if not min(p, r) - 1e-12 <= f <= max(p, r) + 1e-12:
        return f"f1 = {f:.4g} is not between precision {p:.4g} and recall {r:.4g}"
    return None


ROUGE_N = Exercise(
    id="6.1",
    title="ROUGE-N of a candidate against a reference: clipped n-gram overlap",
    signature="rouge_n(candidate, reference, n)",
    outputs=("precision", "recall", "f1"),
    reference=rouge_n,
    edge_cases=_rouge_edge_cases,
    random_cases=_rouge_random_cases,
    library=(
        "tinytransformer.evaluation.rouge.rouge_n",
        "tinytransformer.evaluation.rouge.rouge",
        "tinytransformer.evaluation.rouge.corpus_rouge",
        "tinytransformer.evaluation.diversity.ngram_counts",
    ),
    mistakes=(
        Mistake(
            "no clipping: every candidate n-gram found in the reference counted",
            _rouge_no_clipping,
            "A candidate that says 'the' three times against a reference with one 'the' has one "
            "match, not three: count each n-gram at most as often as the other text has it "
            "(the minimum of the two counts).",
        ),
        Mistake(
            "precision and recall swapped",
            _rouge_swapped,
            "Precision asks how much of the candidate is right: divide the overlap by the "
            "candidate's n-grams. Recall asks how much of the reference is covered: divide by "
            "the reference's.",
        ),
        Mistake(
            "distinct n-grams (sets) instead of counts",
            _rouge_sets,
            "ROUGE counts n-grams with their repetitions: use counts (collections.Counter) for "
            "the overlap and for both denominators, not sets.",
        ),
        Mistake(
            "F1 as the plain mean of precision and recall",
            _rouge_mean_f,
            "F1 is the harmonic mean, 2 P R / (P + R): it is low when either one is low.",
        ),
    ),
    properties=(
        Property("precision, recall and f1 lie in [0, 1]", _rouge_range),
        Property(
            "precision and recall have the same numerator: precision x (candidate n-grams) = "
            "recall x (reference n-grams)",
            _rouge_counts,
        ),
        Property("f1 lies between precision and recall", _rouge_f_between),
    ),
    formula="overlap = sum over n-grams g of min(count_cand(g), count_ref(g)); precision = "
    "overlap / (candidate n-grams), recall = overlap / (reference n-grams), each 0.0 when its "
    "denominator is 0; f1 = 2 P R / (P + R), 0.0 when P + R = 0.",
)


# --- 6.2 distinct_n -------------------------------------------------------------------------------


def _distinct_case(name, texts, n):
    return Case(name, {"texts": [list(t) for t in texts], "n": n})


def _distinct_edge_cases():
    s = str.split
    return [
        _distinct_case(
            "two texts that repeat each other, n = 2", [s("the cat sat"), s("the cat sat on")], 2
        ),
        _distinct_case("one text repeating itself, n = 1", [s("a a a b")], 1),
        _distinct_case(
            "joined, 'a b' + 'c d' would make the bigram (b, c)", [s("a b"), s("c d"), s("b c")], 2
        ),
        _distinct_case("no texts", [], 1),
        _distinct_case("texts shorter than n = 3", [s("a b"), s("c")], 3),
        _distinct_case("an empty text among others, n = 1", [[], s("a b a")], 1),
        _distinct_case("one long and one short text, n = 2", [s("a b a b a b a b"), s("a c")], 2),
    ]


def _distinct_random_cases(rng):
    cases = []
    for _ in range(4):
        n = int(rng.integers(1, 4))
        texts = [_words(rng, 0, 10, WORDS[:4]) for _ in range(int(rng.integers(1, 5)))]
        name = f"random: {len(texts)} texts of {[len(t) for t in texts]} words, n = {n}"
        cases.append(_distinct_case(name, texts, n))
    return cases


def _distinct_joined(texts, n):
    grams = _grams([t for text in texts for t in text], n)
    return _ratio(len(set(grams)), len(grams))


def _distinct_mean_per_text(texts, n):
    ratios = [_ratio(len(set(g)), len(g)) for g in (_grams(t, n) for t in texts) if g]
    return sum(ratios) / len(ratios) if ratios else 0.0


def _distinct_summed_per_text(texts, n):
    grams = [_grams(t, n) for t in texts]
    return _ratio(sum(len(set(g)) for g in grams), sum(len(g) for g in grams))


def _distinct_range(inputs, got):
    return _in_unit_interval(got, ("distinct_n",))


def _distinct_count(inputs, got):
    """value x total n-grams is a whole number (the distinct ones), at most the total."""
    total = sum(len(_grams(t, inputs["n"])) for t in inputs["texts"])
    if total == 0:
        return None if float(got[0]) == 0.0 else f"there are no n-grams, yet it is {got[0]!r}"
    k = float(got[0]) * total
    if abs(k - round(k)) > 1e-9:
        return f"it times the {total} n-grams is {k:.4g}, not a whole number of distinct n-grams"
    return None


DISTINCT_N = Exercise(
    id="6.2",
    title="distinct-n: the share of different n-grams in a set of generated texts",
    signature="distinct_n(texts, n)",
    outputs=("distinct",),
    reference=distinct_n,
    edge_cases=_distinct_edge_cases,
    random_cases=_distinct_random_cases,
    library=(
        "tinytransformer.evaluation.diversity.distinct_n",
        "tinytransformer.evaluation.diversity.ngram_counts",
    ),
    mistakes=(
        Mistake(
            "the texts joined before taking n-grams",
            _distinct_joined,
            "An n-gram made of the end of one text and the start of the next was never "
            "generated: take the n-grams inside each text, then pool them.",
        ),
        Mistake(
            "averaged per text instead of pooled",
            _distinct_mean_per_text,
            "distinct-n is one ratio over all the texts: a model that writes the same text for "
            "every prompt must score low, which a mean of per-text ratios does not see.",
        ),
        Mistake(
            "distinct n-grams counted in each text, then added",
            _distinct_summed_per_text,
            "An n-gram that appears in two texts is one distinct n-gram, not two: collect the "
            "distinct n-grams of all texts in one set.",
        ),
    ),
    properties=(
        Property("it lies in [0, 1]", _distinct_range),
        Property(
            "times the number of n-grams, it is a whole number (how many are different)",
            _distinct_count,
        ),
    ),
    formula="pool = every n-gram tuple(text[i:i+n]) of every text (taken inside each text); "
    "distinct-n = len(set(pool)) / len(pool), 0.0 when the pool is empty.",
)


# --- 6.3 macro_f1 ---------------------------------------------------------------------------------


def _confusion(name, rows):
    return Case(name, {"confusion": np.array(rows, dtype=np.float64)})


def _f1_edge_cases():
    return [
        _confusion("3 classes", [[5, 1, 0], [2, 3, 1], [0, 1, 4]]),
        _confusion("a class never present nor predicted", [[3, 1, 0], [1, 2, 0], [0, 0, 0]]),
        _confusion("a class present but never predicted", [[4, 0], [3, 0]]),
        _confusion("imbalanced: 90 of class 0", [[88, 2], [6, 4]]),
        _confusion("perfect, 4 classes", np.diag([2, 5, 1, 3])),
        _confusion("one class only", [[7]]),
        _confusion("nothing right", [[0, 3], [2, 0]]),
        _confusion("everything called class 1", [[0, 5, 0], [0, 3, 0], [0, 2, 0]]),
    ]


def _f1_random_cases(rng):
    cases = []
    for _ in range(4):
        K = int(rng.integers(2, 6))
        cm = rng.integers(0, 9, size=(K, K)) * (rng.random((K, K)) < 0.7)  # some zeros
        cases.append(_confusion(f"random ({K}, {K})", cm))
    return cases


def _f1_parts(cm):
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    return tp, cm.sum(axis=0) - tp, cm.sum(axis=1) - tp  # TP, FP, FN


def _f1_skip_empty(confusion):
    tp, fp, fn = _f1_parts(confusion)
    den = 2 * tp + fp + fn
    return float(np.mean(2 * tp[den > 0] / den[den > 0])) if (den > 0).any() else 0.0


def _f1_micro(confusion):
    cm = np.asarray(confusion, dtype=np.float64)
    return float(np.trace(cm) / cm.sum()) if cm.sum() else 0.0


def _f1_of_means(confusion):
    tp, fp, fn = _f1_parts(confusion)
    with np.errstate(all="ignore"):
        p = np.mean(np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0))
        r = np.mean(np.where(tp + fn > 0, tp / np.where(tp + fn > 0, tp + fn, 1), 0.0))
    return float(_ratio(2 * p * r, p + r))


def _f1_weighted(confusion):
    tp, fp, fn = _f1_parts(confusion)
    den = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
    support = tp + fn
    return float(np.sum(f1 * support) / support.sum()) if support.sum() else 0.0


def _f1_range(inputs, got):
    return _in_unit_interval(got, ("macro_f1",))


def _f1_perfect(inputs, got):
    """A diagonal matrix with every class present is a perfect classifier: macro F1 1.0."""
    cm = inputs["confusion"]
    perfect = (cm == np.diag(np.diag(cm))).all() and (np.diag(cm) > 0).all()
    if perfect and abs(float(got[0]) - 1.0) > 1e-12:
        return f"every item is classified right, yet it is {float(got[0])!r}, not 1.0"
    return None


def _f1_nothing_right(inputs, got):
    """With an all-zero diagonal no class has a true positive: macro F1 0.0."""
    if not np.diag(inputs["confusion"]).any() and float(got[0]) != 0.0:
        return f"no item is classified right, yet it is {float(got[0])!r}, not 0.0"
    return None


MACRO_F1 = Exercise(
    id="6.3",
    title="macro F1 of a confusion matrix: every class counts once",
    signature="macro_f1(confusion)",
    outputs=("macro_f1",),
    reference=macro_f1,
    edge_cases=_f1_edge_cases,
    random_cases=_f1_random_cases,
    library=(
        "tinytransformer.evaluation.classification.macro_f1",
        "tinytransformer.evaluation.classification.f1_per_class",
        "tinytransformer.evaluation.classification.classification_report",
    ),
    mistakes=(
        Mistake(
            "classes with 0/0 left out of the mean",
            _f1_skip_empty,
            "The mean is over all K classes: a class that is neither present nor predicted has "
            "F1 0.0 (scikit-learn's zero_division=0) and still counts.",
        ),
        Mistake(
            "micro F1 (the accuracy) instead of macro",
            _f1_micro,
            "Summing TP, FP and FN over classes first gives micro F1, which for single-label "
            "data is the accuracy; macro F1 computes F1 per class, then takes the plain mean.",
        ),
        Mistake(
            "F1 of the mean precision and the mean recall",
            _f1_of_means,
            "Take F1 class by class, 2 TP / (2 TP + FP + FN), and average those; the harmonic "
            "mean of averaged precision and recall is another number.",
        ),
        Mistake(
            "weighted by class support",
            _f1_weighted,
            "Macro F1 gives every class the same weight, however rare: that is the point of it "
            "for routing, where a rare intent matters as much as a common one.",
        ),
    ),
    properties=(
        Property("it lies in [0, 1]", _f1_range),
        Property("it is 1.0 when every class is present and every item right", _f1_perfect),
        Property("it is 0.0 when no item is classified right", _f1_nothing_right),
    ),
    formula="per class k: TP = cm[k, k], FP = column sum - TP, FN = row sum - TP, "
    "F1_k = 2 TP / (2 TP + FP + FN), 0.0 when that is 0/0; macro F1 = the mean of the K F1_k.",
)


EXERCISES = [ROUGE_N, DISTINCT_N, MACRO_F1]
