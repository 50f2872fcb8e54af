"""ROUGE (Lin, 2004), written to give exactly the numbers of Google's `rouge-score` package.

ROUGE asks how much of a reference (the "target") a generated text (the "prediction") covers.
- rougeN counts shared word n-grams, each clipped to its count in the other text:
  precision = overlap / prediction n-grams, recall = overlap / target n-grams.
- rougeL uses the longest common subsequence (LCS): words in the same order, gaps allowed.
- rougeLsum treats each text as a list of sentences (one per line) and, for every target
  sentence, takes the union of its LCS with each prediction sentence; a word is counted at most
  as often as it occurs in both texts.
Each result is a precision, a recall and their harmonic mean (F1). `rouge_n(candidate,
reference, n)` is ROUGE-N on two token lists, the function every rougeN score here goes through.

Tokenisation is rouge-score's default: lowercase, every run of characters outside [a-z0-9]
becomes a space, split. So "Café!" is the tokens "caf", and text in other scripts has no tokens.

Left out: the Porter stemmer (`use_stemmer=True`), nltk sentence splitting
(`split_summaries=True`) and bootstrap confidence intervals.
"""

import re
from collections import Counter
from dataclasses import asdict, dataclass

from tinytransformer.checks import check_count
from tinytransformer.evaluation.diversity import ngram_counts

DEFAULT_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_ROUGE_N = re.compile(r"rouge([1-9])")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass
class RougeScore:
    """precision, recall and fmeasure (their harmonic mean, F1), each in [0, 1]."""

    precision: float
    recall: float
    fmeasure: float

    def to_dict(self):
        return asdict(self)


def tokenize(text):
    """rouge-score's default tokens: lowercase words made of a-z and 0-9 only.

    >>> tokenize("The CAT's 2 hats, naïve!")
    ['the', 'cat', 's', '2', 'hats', 'na', 've']
    """
    # Lowercase first: a few non-ASCII letters lowercase to ASCII (the Kelvin sign K -> k).
    return _WORD.findall(text.lower())


def rouge_n(candidate, reference, n):
    """ROUGE-N of two token lists -> (precision, recall, f1), floats in [0, 1].

    overlap = sum over n-grams g of min(count of g in candidate, count in reference) (each
    n-gram clipped to its count in the other text); precision = overlap / the candidate's
    n-grams, recall = overlap / the reference's n-grams, f1 = 2 P R / (P + R); each 0.0 where
    its denominator is 0 (a text shorter than n words has no n-grams).

    >>> rouge_n(["the", "cat", "sat"], ["the", "cat", "ran"], 2)
    (0.5, 0.5, 0.5)
    >>> rouge_n(["the"], ["the", "the", "the"], 1)  # "the" counts once: clipped
    (1.0, 0.3333333333333333, 0.5)
    """
    check_count("n", n, low=1)
    for name, tokens in (("candidate", candidate), ("reference", reference)):
        if isinstance(tokens, str) or not isinstance(tokens, list | tuple):
            raise TypeError(f"{name}: expected a list of tokens, got {type(tokens).__name__}")
    candidate_grams, reference_grams = ngram_counts(candidate, n), ngram_counts(reference, n)
    overlap = sum((candidate_grams & reference_grams).values())  # & keeps the smaller count
    # max(.., 1): a text with no n-grams gets 0 rather than 0/0 (the overlap is 0 then).
    precision = overlap / max(sum(candidate_grams.values()), 1)
    recall = overlap / max(sum(reference_grams.values()), 1)
    return precision, recall, _f1(precision, recall)


def rouge(target, prediction, types=DEFAULT_TYPES):
    """Score `prediction` against `target` for each ROUGE type; as rouge-score's
    `RougeScorer(types).score(target, prediction)` without stemming.

    types: "rouge1" .. "rouge9", "rougeL", "rougeLsum" (sentences separated by "\\n").
    Returns {type: RougeScore}.

    >>> r = rouge("the cat sat", "the cat ran", types=("rouge1",))["rouge1"]
    >>> round(r.precision, 4), round(r.recall, 4), round(r.fmeasure, 4)
    (0.6667, 0.6667, 0.6667)
    """
    _check_text("target", target)
    _check_text("prediction", prediction)
    _check_types(types)
    t_tokens, p_tokens = tokenize(target), tokenize(prediction)
    result = {}
    for name in types:
        if name == "rougeL":
            result[name] = _score_lcs(t_tokens, p_tokens)
        elif name == "rougeLsum":
            result[name] = _score_lcs_summary(_sentences(target), _sentences(prediction))
        else:
            n = int(name[len("rouge") :])
            result[name] = RougeScore(*rouge_n(p_tokens, t_tokens, n))
    return result


def rouge_multi(targets, prediction, types=DEFAULT_TYPES):
    """Score against several targets and keep, per type, the one with the highest F1 (the first
    on a tie); as rouge-score's `RougeScorer(types).score_multi(targets, prediction)`."""
    if isinstance(targets, str) or not isinstance(targets, list | tuple) or not targets:
        raise TypeError(f"targets: expected a non-empty list of strings, got {targets!r:.80}")
    per_target = [rouge(t, prediction, types) for t in targets]
    best = {}
    for name in types:
        scores = [s[name] for s in per_target]
        best[name] = max(scores, key=lambda s: s.fmeasure)  # max() keeps the first maximum
    return best


def corpus_rouge(targets, predictions, types=DEFAULT_TYPES):
    """Mean precision, recall and F1 over (target, prediction) pairs, per type.

    targets: list of N items, each a target string or a list of target strings (then the best
    one per type counts, as in `rouge_multi`). predictions: list of N strings.
    Returns {type: RougeScore of means}; `.fmeasure` is the corpus ROUGE F1 usually reported.

    >>> corpus_rouge(["a b", "c d"], ["a b", "x y"], types=("rouge1",))["rouge1"].fmeasure
    0.5
    """
    for name, seq in (("targets", targets), ("predictions", predictions)):
        if isinstance(seq, str) or not isinstance(seq, list | tuple):
            raise TypeError(f"{name}: expected a list, got {type(seq).__name__}")
    if len(targets) != len(predictions):
        raise ValueError(
            f"targets and predictions: expected the same length, got {len(targets)} targets "
            f"and {len(predictions)} predictions"
        )
    if not targets:
        raise ValueError("targets: expected at least one pair, got empty lists")
    _check_types(types)
    per_pair = [
        rouge(t, p, types) if isinstance(t, str) else rouge_multi(t, p, types)
        for t, p in zip(targets, predictions, strict=True)
    ]
    n = len(per_pair)
    return {
        name: RougeScore(
            precision=sum(s[name].precision for s in per_pair) / n,
            recall=sum(s[name].recall for s in per_pair) / n,
            fmeasure=sum(s[name].fmeasure for s in per_pair) / n,
        )
        for name in types
    }


def _f1(precision, recall):
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _lcs_table(a, b):
    """L[i][j] = length of the LCS of a[:i] and b[:j]; (len(a)+1) x (len(b)+1) nested lists."""
    L = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                L[i][j] = L[i - 1][j - 1] + 1  # extend the LCS of both shorter prefixes
            else:
                L[i][j] = max(L[i - 1][j], L[i][j - 1])  # drop the last word of one text
    return L


def _lcs_positions(a, b):
    """Positions in `a` of one LCS of a and b.

    When several LCSs exist, which one is read out changes rougeLsum's union, so the walk back
    from the corner follows rouge-score's rule: take a match when the words are equal, else step
    left (drop b's word) only if that keeps a strictly longer LCS, otherwise step up.
    """
    L = _lcs_table(a, b)
    i, j = len(a), len(b)
    positions = []
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            positions.append(i - 1)
            i, j = i - 1, j - 1
        elif L[i][j - 1] > L[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return positions[::-1]


def _score_lcs(target_tokens, prediction_tokens):
    if not target_tokens or not prediction_tokens:
        return RougeScore(0.0, 0.0, 0.0)
    lcs = _lcs_table(target_tokens, prediction_tokens)[-1][-1]
    precision = lcs / len(prediction_tokens)
    recall = lcs / len(target_tokens)
    return RougeScore(precision, recall, _f1(precision, recall))


def _sentences(text):
    """Tokenised sentences: one per non-empty line ("\\n" only, as rouge-score)."""
    return [tokenize(line) for line in text.split("\n") if line]


def _score_lcs_summary(target_sents, prediction_sents):
    """Summary-level LCS (ROUGE paper, section 3.2) with ROUGE-1.5.5's no-double-count rule."""
    m = sum(len(s) for s in target_sents)
    n = sum(len(s) for s in prediction_sents)
    if m == 0 or n == 0:
        return RougeScore(0.0, 0.0, 0.0)
    # How many of each word are still available to be matched, in each text.
    left_t = Counter(w for s in target_sents for w in s)
    left_p = Counter(w for s in prediction_sents for w in s)
    hits = 0
    for sent in target_sents:
        # Union over prediction sentences of the target-sentence positions in an LCS.
        union = sorted({i for p in prediction_sents for i in _lcs_positions(sent, p)})
        for word in (sent[i] for i in union):
            if left_t[word] > 0 and left_p[word] > 0:
                hits += 1
                left_t[word] -= 1
                left_p[word] -= 1
    precision, recall = hits / n, hits / m
    return RougeScore(precision, recall, _f1(precision, recall))


def _check_text(name, text):
    if not isinstance(text, str):
        raise TypeError(f"{name}: expected a string, got {type(text).__name__}")


def _check_types(types):
    if isinstance(types, str) or not isinstance(types, list | tuple) or not types:
        raise TypeError(f"types: expected a non-empty list or tuple of names, got {types!r}")
    for name in types:
        if name not in ("rougeL", "rougeLsum") and not (
            isinstance(name, str) and _ROUGE_N.fullmatch(name)
        ):
            raise ValueError(
                f"types: expected 'rouge1'..'rouge9', 'rougeL' or 'rougeLsum', got {name!r}"
            )
