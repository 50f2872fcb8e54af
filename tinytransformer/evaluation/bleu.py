"""BLEU (Papineni et al., 2002), written to give exactly the numbers of sacrebleu 2.x.

BLEU compares a system's output with one or more human references by counting shared word
n-grams (n = 1..4). For each order n the precision is (matched n-grams) / (hypothesis n-grams),
where a hypothesis n-gram can match at most as many times as it occurs in the reference that
has the most of it ("clipping", so "the the the" does not score for repeating a common word).
The score is the geometric mean of the four precisions times a brevity penalty
BP = exp(1 - r / c) when the hypothesis length c is below the reference length r (else 1):
precision alone would reward saying very little. All counts are summed over the corpus before
dividing, which is why corpus BLEU is not the mean of sentence BLEUs. The two parts are public:
clipped_precision(candidate, references, n) and brevity_penalty(c, r) (exercises 9.1 and 9.2).

Defaults match `sacrebleu.corpus_bleu` / `sacrebleu.sentence_bleu`: the "13a" tokenisation of
mteval-v13a.pl, scores on a 0-100 scale, `exp` smoothing, and for each segment the reference
length closest to the hypothesis length (ties go to the shorter reference).

Left out: sacrebleu's other tokenisers (intl, zh, ja-mecab, char, spm; only "13a" and "none"
are here), `max_ngram_order` other than 4, bootstrap confidence intervals and the signature
string.
"""

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from tinytransformer.checks import check_number
from tinytransformer.evaluation.diversity import ngram_counts

MAX_ORDER = 4
SMOOTH_DEFAULTS = {"exp": None, "floor": 0.1, "add-k": 1, "none": None}
TOKENIZERS = ("13a", "none")

# mteval-v13a's four substitutions, applied in order to " line ". They are written out with
# their quirks on purpose: a match consumes its characters, so in "a.." only the first "." is
# split off by the second rule and the third rule handles the other one.
# 1. Split off ASCII punctuation except . , ' and - (those depend on their neighbours).
_PUNCT = re.compile(r"""([!"#$%&()*+/:;<=>?@\[\\\]^_`{|}~])""")
# 2. Split off . and , unless they follow a digit (keeps "3.14" and "1,000" whole) ...
_PERIOD_COMMA_AFTER = re.compile(r"([^0-9])([.,])")
# 3. ... and unless a digit follows them.
_PERIOD_COMMA_BEFORE = re.compile(r"([.,])([^0-9])")
# 4. Split off a dash that follows a digit ("1990-2000" -> "1990 - 2000").
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")


def tokenize_13a(line):
    """Split one segment into tokens the way mteval-v13a.pl (and sacrebleu's "13a") does.

    >>> tokenize_13a("Hello, world! It costs $3.50.")
    ['Hello', ',', 'world', '!', 'It', 'costs', '$', '3.50', '.']
    """
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:  # undo the four XML escapes, &amp; third so "&amp;lt;" becomes "<"
        line = line.replace("&quot;", '"').replace("&amp;", "&")
        line = line.replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "  # the padding lets rules 2 and 3 split a "." at either end
    line = _PUNCT.sub(r" \1 ", line)
    line = _PERIOD_COMMA_AFTER.sub(r"\1 \2 ", line)
    line = _PERIOD_COMMA_BEFORE.sub(r" \1 \2", line)
    line = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", line)
    return line.split()  # str.split() splits on any Unicode whitespace, as sacrebleu's does


@dataclass
class BLEUScore:
    """A BLEU result with sacrebleu's field names.

    score: BLEU on a 0-100 scale. precisions: the four n-gram precisions, also 0-100, after
    smoothing. bp: brevity penalty. sys_len / ref_len: total hypothesis / reference tokens.
    counts / totals: clipped matches and hypothesis n-grams per order, before smoothing
    (sacrebleu's `counts` and `totals` include the add-k constant; these do not).
    """

    score: float
    precisions: list = field(default_factory=list)
    bp: float = 1.0
    sys_len: int = 0
    ref_len: int = 0
    counts: list = field(default_factory=list)
    totals: list = field(default_factory=list)

    @property
    def ratio(self):
        return self.sys_len / self.ref_len if self.ref_len else 0.0

    def to_dict(self):
        return asdict(self)

    def __str__(self):
        prec = "/".join(f"{p:.1f}" for p in self.precisions)
        return (
            f"BLEU = {self.score:.2f} {prec} (BP = {self.bp:.3f} ratio = {self.ratio:.3f} "
            f"hyp_len = {self.sys_len} ref_len = {self.ref_len})"
        )


def corpus_bleu(
    hypotheses,
    references,
    smooth_method="exp",
    smooth_value=None,
    lowercase=False,
    tokenize="13a",
    use_effective_order=False,
):
    """Corpus BLEU of `hypotheses` against one or more reference streams, as sacrebleu.

    hypotheses: list of N strings. references: list of R reference streams, each a list of N
    strings (sacrebleu's layout: references[r][i] is the r-th reference of segment i; an entry
    may be None when a segment has fewer references). smooth_method: "exp" (default), "floor",
    "add-k" or "none"; smooth_value: the constant of "floor" (default 0.1) or "add-k"
    (default 1). use_effective_order: average only over the orders the hypotheses contain, so a
    corpus of 3-word segments is not scored 0 for having no 4-grams.

    >>> round(corpus_bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]).score, 6)
    100.0
    """
    _check_options(smooth_method, smooth_value, tokenize)
    _check_hypotheses(hypotheses)
    _check_reference_streams(references, len(hypotheses))
    stats = [0] * (2 + 2 * MAX_ORDER)  # sys_len, ref_len, matches[4], totals[4]
    for i, hyp in enumerate(hypotheses):
        refs = [stream[i] for stream in references if stream[i] is not None]
        if not refs:
            raise ValueError(f"references: segment {i} has no reference (every stream is None)")
        segment = _segment_stats(hyp, refs, lowercase, tokenize)
        stats = [a + b for a, b in zip(stats, segment, strict=True)]
    return _score_from_stats(stats, smooth_method, smooth_value, use_effective_order)


def sentence_bleu(
    hypothesis,
    references,
    smooth_method="exp",
    smooth_value=None,
    lowercase=False,
    tokenize="13a",
    use_effective_order=True,
):
    """BLEU of one hypothesis string against a list of reference strings, as sacrebleu.

    Note sacrebleu's defaults for a single sentence: `exp` smoothing and effective order on.

    >>> round(sentence_bleu("a b c", ["a b c"]).score, 6)
    100.0
    """
    if not isinstance(hypothesis, str):
        raise TypeError(f"hypothesis: expected a string, got {type(hypothesis).__name__}")
    if isinstance(references, str) or not isinstance(references, list | tuple):
        raise TypeError(
            f"references: expected a list of reference strings, got {type(references).__name__}"
        )
    return corpus_bleu(
        [hypothesis],
        [[ref] for ref in references],
        smooth_method=smooth_method,
        smooth_value=smooth_value,
        lowercase=lowercase,
        tokenize=tokenize,
        use_effective_order=use_effective_order,
    )


def _tokens(segment, lowercase, tokenize):
    # sacrebleu's order: lowercase, drop trailing whitespace, then tokenise.
    if lowercase:
        segment = segment.lower()
    segment = segment.rstrip()
    return tokenize_13a(segment) if tokenize == "13a" else segment.split()


def clipped_precision(candidate, references, n):
    """BLEU's modified n-gram precision of one candidate -> (matches, total), two ints.

    candidate: a list of tokens; references: a list of token lists. total is the number of the
    candidate's n-grams (len(candidate) - n + 1, or 0); matches counts them with each distinct
    n-gram clipped to the largest count any one reference has of it, so that repeating a word
    the references contain once scores once. The precision is matches / total.

    >>> clipped_precision(["the"] * 7, [["the", "cat", "is", "on", "the", "mat"]], 1)
    (2, 7)
    """
    counts = ngram_counts(candidate, n)
    max_ref_counts = Counter()
    for ref in references:
        max_ref_counts |= ngram_counts(ref, n)  # | keeps the larger count of each n-gram
    matches = sum(min(count, max_ref_counts[gram]) for gram, count in counts.items())
    return matches, sum(counts.values())


def brevity_penalty(c, r):
    """BLEU's brevity penalty of a candidate of c tokens against a reference length r -> float:
    1.0 when c > r, else exp(1 - r / c), and 0.0 when c == 0 (even if r == 0: nothing said
    earns nothing). Precision alone would reward saying very little; this takes it back.

    >>> brevity_penalty(6, 6), round(brevity_penalty(2, 6), 6)
    (1.0, 0.135335)
    """
    if c == 0:
        return 0.0
    return 1.0 if c > r else math.exp(1 - r / c)


def _segment_stats(hyp, refs, lowercase, tokenize):
    """[hyp_len, ref_len, matches per order (4), hypothesis n-grams per order (4)]."""
    hyp_tokens = _tokens(hyp, lowercase, tokenize)
    ref_tokens = [_tokens(r, lowercase, tokenize) for r in refs]
    orders = [clipped_precision(hyp_tokens, ref_tokens, n) for n in range(1, MAX_ORDER + 1)]
    matches, totals = (list(column) for column in zip(*orders, strict=True))
    # The reference length closest to the hypothesis length; a tie goes to the shorter one.
    c = len(hyp_tokens)
    r = min((len(t) for t in ref_tokens), key=lambda n: (abs(n - c), n))
    return [c, r, *matches, *totals]


def _score_from_stats(stats, smooth_method, smooth_value, use_effective_order):
    """Corpus statistics [sys_len, ref_len, matches (4), totals (4)] -> BLEUScore."""
    sys_len, ref_len = stats[0], stats[1]
    counts, totals = stats[2 : 2 + MAX_ORDER], stats[2 + MAX_ORDER :]
    if smooth_value is None:
        smooth_value = SMOOTH_DEFAULTS[smooth_method]
    # sacrebleu reports BP = 1 when sys_len == ref_len == 0 (brevity_penalty says 0): nothing
    # matched then, so the score is 0 either way; only the reported bp keeps sacrebleu's value.
    bp = 1.0 if sys_len >= ref_len else brevity_penalty(sys_len, ref_len)

    def result(score, precisions):
        return BLEUScore(score, precisions, bp, sys_len, ref_len, list(counts), list(totals))

    if not any(counts):  # nothing matched: 0, whatever the smoothing would have said
        return result(0.0, [0.0] * MAX_ORDER)

    precisions = [0.0] * MAX_ORDER  # orders after a `break` below keep 0
    order = MAX_ORDER  # how many precisions enter the geometric mean
    exp_halvings = 1.0
    for n in range(1, MAX_ORDER + 1):
        match, total = counts[n - 1], totals[n - 1]
        if smooth_method == "add-k" and n > 1:  # add k to both counts of orders 2..4
            match, total = match + smooth_value, total + smooth_value
        if total == 0:  # the hypotheses are too short to have any n-grams of this order
            break
        if use_effective_order:
            order = n
        if match > 0:
            precisions[n - 1] = 100.0 * match / total
        elif smooth_method == "exp":  # NIST: 1/2, 1/4, 1/8 ... of a match per empty order
            exp_halvings *= 2
            precisions[n - 1] = 100.0 / (exp_halvings * total)
        elif smooth_method == "floor":  # a fixed fraction of a match
            precisions[n - 1] = 100.0 * smooth_value / total
    if any(p == 0.0 for p in precisions[:order]):  # log 0: the geometric mean is 0
        return result(0.0, precisions)
    log_mean = sum(math.log(p) for p in precisions[:order]) / order
    return result(bp * math.exp(log_mean), precisions)


def _check_options(smooth_method, smooth_value, tokenize):
    if smooth_method not in SMOOTH_DEFAULTS:
        raise ValueError(
            f"smooth_method: expected one of {sorted(SMOOTH_DEFAULTS)}, got {smooth_method!r}"
        )
    check_number("smooth_value", smooth_value, allow_none=True)
    if tokenize not in TOKENIZERS:
        raise ValueError(f"tokenize: expected one of {list(TOKENIZERS)}, got {tokenize!r}")


def _check_hypotheses(hypotheses):
    if isinstance(hypotheses, str) or not isinstance(hypotheses, list | tuple):
        raise TypeError(f"hypotheses: expected a list of strings, got {type(hypotheses).__name__}")
    if len(hypotheses) == 0:
        raise ValueError("hypotheses: expected at least one segment, got an empty list")
    for i, h in enumerate(hypotheses):
        if not isinstance(h, str):
            raise TypeError(f"hypotheses[{i}]: expected a string, got {type(h).__name__}")


def _check_reference_streams(references, n):
    if isinstance(references, str) or not isinstance(references, list | tuple):
        raise TypeError(
            "references: expected a list of reference streams (lists of strings), "
            f"got {type(references).__name__}"
        )
    if len(references) == 0:
        raise ValueError("references: expected at least one reference stream, got none")
    for r, stream in enumerate(references):
        if isinstance(stream, str) or not isinstance(stream, list | tuple):
            raise TypeError(
                f"references[{r}]: expected a list of {n} strings (one per hypothesis), "
                f"got {type(stream).__name__}; pass [refs] for a single reference stream"
            )
        if len(stream) != n:
            raise ValueError(
                f"references[{r}]: expected {n} segments (one per hypothesis), got {len(stream)}"
            )
        for i, s in enumerate(stream):
            if s is not None and not isinstance(s, str):
                raise TypeError(
                    f"references[{r}][{i}]: expected a string or None, got {type(s).__name__}"
                )
