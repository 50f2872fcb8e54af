"""The exercises of chapter 8 (总结：未来发展趋势与挑战, trends and challenges, measured): a power
law fitted to losses, the exposure of a canary, and the entropy a sampling temperature gives.

The references are the library's: evaluation.scaling.fit_power_law,
evaluation.memorisation.exposure and evaluation.entropy.sampling_entropy. The cases include sizes
up to 1e12 (a fit of n itself, not of log n, would be ruined by them), ties with the canary's
log-probability (not "strictly higher"), one candidate, logits near 1000 and rows spanning 2000
at a temperature of 0.01, where only a shifted softmax stays finite, and a probability that
underflows to 0 (p log p must count 0 there, not nan).
"""

import math

import numpy as np

from tinytransformer.evaluation.entropy import sampling_entropy
from tinytransformer.evaluation.memorisation import exposure
from tinytransformer.evaluation.scaling import fit_power_law
from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property

# --- 8.1 fit_power_law ----------------------------------------------------------------------------


def _law_case(name, n, a, b, noise=None):
    n = np.asarray(n, dtype=np.float64)
    loss = a * n**-b * (1.0 if noise is None else np.exp(noise))
    return Case(name, {"n": n, "loss": loss})


def _law_edge_cases():
    rng = np.random.default_rng(81)
    sizes = np.array([1e4, 3e4, 1e5, 3e5, 1e6])
    return [
        _law_case("an exact law: 5 sizes, a = 9, b = 0.076", sizes, 9.0, 0.076),
        _law_case("two sizes only", [1e3, 1e5], 4.0, 0.3),
        _law_case(
            "6 noisy losses, b = 0.2",
            np.geomspace(1e3, 1e6, 6),
            20.0,
            0.2,
            0.05 * rng.standard_normal(6),
        ),  # fmt: skip
        _law_case(
            "sizes 1e9 to 1e12 (GPT-3's range)",
            [1e9, 1e10, 1e11, 1e12],
            40.0,
            0.07,
            0.01 * rng.standard_normal(4),
        ),  # fmt: skip
        _law_case(
            "sizes not sorted, noisy", [3e5, 1e4, 1e6, 3e4], 6.0, 0.1, 0.03 * rng.standard_normal(4)
        ),  # fmt: skip
        _law_case(
            "a loss that rises with size: b < 0",
            [10.0, 100.0, 1000.0],
            1.0,
            -0.5,
            np.array([0.1, -0.1, 0.05]),
        ),  # fmt: skip
    ]


def _law_random_cases(rng):
    cases = []
    for _ in range(3):
        K = int(rng.integers(3, 9))
        n = np.sort(np.exp(rng.uniform(3, 25, size=K)))
        a, b = float(rng.uniform(1, 50)), float(rng.uniform(0.02, 0.6))
        noise = 0.1 * rng.standard_normal(K)
        cases.append(_law_case(f"random: {K} noisy sizes, a = {a:.1f}, b = {b:.3f}", n, a, b,
                               noise))  # fmt: skip
    return cases


def _line(x, y):
    """The least-squares slope and intercept of y on x."""
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
    return slope, float(y.mean() - slope * x.mean())


def _law_log10_read_as_e(n, loss):
    slope, intercept = _line(np.log10(n), np.log10(loss))
    return math.exp(intercept), -slope


def _law_sign(n, loss):
    slope, intercept = _line(np.log(n), np.log(loss))
    return math.exp(intercept), slope


def _law_log_a(n, loss):
    slope, intercept = _line(np.log(n), np.log(loss))
    return intercept, -slope


def _law_loss_not_logged(n, loss):
    slope, intercept = _line(np.log(n), loss)
    return intercept, -slope


def _law_ends(n, loss):
    order = np.argsort(n)
    x, y = np.log(n[order]), np.log(loss[order])
    slope = (y[-1] - y[0]) / (x[-1] - x[0])
    return math.exp(y[0] - slope * x[0]), -slope


def _two_numbers(inputs, got):
    if any(isinstance(v, bool) or not isinstance(v, int | float | np.number) for v in got):
        return "a and b are not two numbers"
    return None if all(math.isfinite(float(v)) for v in got) else f"got {got}"


def _through_the_mean(inputs, got):
    """A least-squares line passes through the mean point: log(a) - b mean(log n) =
    mean(log loss)."""
    a, b = (float(v) for v in got)
    if not a > 0:
        return f"a = {a}: a power law's a is positive (loss > 0)"
    x, y = np.log(inputs["n"]), np.log(inputs["loss"])
    at_mean = math.log(a) - b * x.mean()
    gap = abs(at_mean - y.mean())
    return (
        None
        if gap < 1e-8 * max(1.0, abs(y.mean()))
        else (
            f"at the mean of log n, log(a n^-b) = {at_mean:.6f}, but the mean log loss is "
            f"{y.mean():.6f}: a least-squares line passes through the mean point"
        )
    )


FIT_POWER_LAW = Exercise(
    id="8.1",
    title="fit loss ~ a * n^(-b) by least squares on log-log axes",
    signature="fit_power_law(n, loss)",
    outputs=("a", "b"),
    reference=fit_power_law,
    edge_cases=_law_edge_cases,
    random_cases=_law_random_cases,
    library=("tinytransformer.evaluation.scaling.fit_power_law",),
    mistakes=(
        Mistake(
            "a fitted with log10 and read back with exp",
            _law_log10_read_as_e,
            "The slope is the same in any base, the intercept is not: with log10 the intercept "
            "is log10(a), so a = 10 ** intercept. Use one logarithm throughout.",
        ),
        Mistake(
            "b with the wrong sign",
            _law_sign,
            "log(loss) = log(a) - b log(n): the slope of the fitted line is -b, so a loss that "
            "falls with n has b > 0.",
        ),
        Mistake(
            "log(a) returned instead of a",
            _law_log_a,
            "The line's intercept is log(a); the law wants a itself: exp(intercept).",
        ),
        Mistake(
            "loss fitted on log(n) without taking its log",
            _law_loss_not_logged,
            "A power law is a straight line only when BOTH axes are logarithmic: fit log(loss) on "
            "log(n).",
        ),
        Mistake(
            "the line through the smallest and largest size only",
            _law_ends,
            "Least squares uses every point: slope = sum((x - mean x)(y - mean y)) / "
            "sum((x - mean x)^2), not the slope between the two end points.",
        ),
    ),
    properties=(
        Property("a and b are two finite numbers", _two_numbers),
        Property("a > 0, and the curve passes through the mean of the logs", _through_the_mean),
    ),
    formula="x = log(n), y = log(loss); slope = sum((x - x.mean()) * (y - y.mean())) / "
    "sum((x - x.mean())**2); b = -slope; a = exp(y.mean() - slope * x.mean()).",
)


# --- 8.2 exposure ---------------------------------------------------------------------------------


def _exposure_case(name, canary, others, rng):
    candidates = np.concatenate([[canary], others])
    candidates = candidates[rng.permutation(len(candidates))]  # the canary somewhere among them
    return Case(name, {"canary_logprob": float(canary), "candidate_logprobs": candidates})


def _exposure_edge_cases():
    rng = np.random.default_rng(82)
    others = -30 + 3 * rng.standard_normal(999)
    tied = np.array([-5.0, -5.0, -5.0, -2.0, -9.0, -1.0])
    return [
        _exposure_case("memorised: the canary above 999 others", -3.0, others, rng),
        _exposure_case("not seen: the canary in the middle of 999", np.median(others), others, rng),
        _exposure_case("the least likely of 100", -60.0, -30 + rng.standard_normal(99), rng),
        _exposure_case("three candidates tie with the canary (-5)", -5.0, tied, rng),
        _exposure_case("one candidate: the canary alone", -7.5, np.array([]), rng),
        _exposure_case("all 16 tie with the canary", -4.0, np.full(15, -4.0), rng),
        _exposure_case(
            "10,000 candidates, the canary 20th",
            -10.0,
            np.concatenate([-9 + rng.random(19), -11 - rng.random(9980)]),
            rng,
        ),  # fmt: skip
    ]


def _exposure_random_cases(rng):
    cases = []
    for _ in range(3):
        R = int(rng.integers(2, 3000))
        others = np.round(-40 + 8 * rng.standard_normal(R - 1), 1)  # rounded: some ties
        canary = float(rng.choice(others)) if rng.random() < 0.5 else float(-40 + 8 * rng.random())
        cases.append(_exposure_case(f"random: {R} candidates", canary, others, rng))
    return cases


def _exposure_variant(canary_logprob, candidate_logprobs, above=">", log=np.log2, start=1, R=0):
    c = np.asarray(candidate_logprobs)
    count = {">": c > canary_logprob, ">=": c >= canary_logprob, "<": c < canary_logprob}[above]
    rank = start + int(np.count_nonzero(count))
    return float(log(np.float64(len(c) + R)) - log(np.float64(rank)))  # log2(0) = -inf


EXPOSURE = Exercise(
    id="8.2",
    title="the exposure of a canary among random candidates (The Secret Sharer)",
    signature="exposure(canary_logprob, candidate_logprobs)",
    outputs=("exposure",),
    reference=exposure,
    edge_cases=_exposure_edge_cases,
    random_cases=_exposure_random_cases,
    library=("tinytransformer.evaluation.memorisation.exposure",),
    mistakes=(
        Mistake(
            "ties counted as ranked above the canary (>=, the canary itself included)",
            lambda canary_logprob, candidate_logprobs: _exposure_variant(
                canary_logprob, candidate_logprobs, above=">="
            ),
            "rank = 1 + the number of candidates STRICTLY more likely than the canary: with >= "
            "the canary counts itself (and every tie), and a memorised canary ranks 2nd.",
        ),
        Mistake(
            "rank counted from 0",
            lambda canary_logprob, candidate_logprobs: _exposure_variant(
                canary_logprob, candidate_logprobs, start=0
            ),
            "The most likely candidate has rank 1, not 0: rank = 1 + the number above it (and "
            "log2(0) has no value).",
        ),
        Mistake(
            "natural logarithms instead of log2",
            lambda canary_logprob, candidate_logprobs: _exposure_variant(
                canary_logprob, candidate_logprobs, log=np.log
            ),
            "Exposure is in bits: log2(R) - log2(rank), at most log2(R).",
        ),
        Mistake(
            "ranked from the bottom: 1 + the number of candidates less likely",
            lambda canary_logprob, candidate_logprobs: _exposure_variant(
                canary_logprob, candidate_logprobs, above="<"
            ),
            "A memorised canary is MORE likely than the others, so it ranks first: count the "
            "candidates with a higher log-probability.",
        ),
        Mistake(
            "R without the canary",
            lambda canary_logprob, candidate_logprobs: _exposure_variant(
                canary_logprob, candidate_logprobs, R=-1
            ),
            "The canary is one of the candidates: R = len(candidate_logprobs).",
        ),
    ),
    properties=(
        Property(
            "0 <= exposure <= log2(R)",
            lambda inputs, got: (
                None
                if 0 <= float(got[0]) <= math.log2(len(inputs["candidate_logprobs"])) + 1e-12
                else f"it is {float(got[0])}, outside [0, "
                f"{math.log2(len(inputs['candidate_logprobs'])):.3f}]"
            ),
        ),
    ),
    formula="R = len(candidate_logprobs); rank = 1 + count of candidate_logprobs > "
    "canary_logprob (strictly); exposure = log2(R) - log2(rank).",
    tolerance=1e-12,
)


# --- 8.3 sampling_entropy -------------------------------------------------------------------------


def _entropy_case(name, logits, temperature):
    return Case(name, {"logits": np.asarray(logits, dtype=np.float64), "temperature": temperature})


def _entropy_edge_cases():
    rng = np.random.default_rng(83)
    spread = rng.standard_normal((3, 6))
    spread[:, 1] += 2000.0  # rows spanning 2000: exp of the unshifted row overflows
    tiny = rng.standard_normal((2, 5))
    tiny[0, 0] = -800.0  # its probability underflows to 0 at T = 1
    return [
        _entropy_case("3 rows of 5, temperature 1", rng.standard_normal((3, 5)), 1.0),
        _entropy_case("uniform rows: entropy ln V", np.zeros((2, 7)), 0.7),
        _entropy_case("one token only (V = 1)", rng.standard_normal((3, 1)), 1.3),
        _entropy_case(
            "logits near 1000, temperature 0.01", 1000 + rng.standard_normal((2, 4)), 0.01
        ),  # fmt: skip
        _entropy_case("rows spanning 2000", spread, 1.0),
        _entropy_case("a probability that underflows to 0", tiny, 1.0),
        _entropy_case("temperature 100: near uniform", 3 * rng.standard_normal((2, 6)), 100.0),
        _entropy_case("one row, temperature 0.5", rng.standard_normal((1, 9)), 0.5),
    ]


def _entropy_random_cases(rng):
    cases = []
    for scale, offset in [(1.0, 0.0), (10.0, 0.0), (100.0, float(rng.choice([0.0, 1000.0])))]:
        N, V = int(rng.integers(1, 7)), int(rng.integers(2, 40))
        t = float(np.exp(rng.uniform(-2, 2)))
        logits = offset + scale * rng.standard_normal((N, V))
        cases.append(_entropy_case(f"random ({N}, {V}) x {scale:g} + {offset:g}, T = {t:.3f}",
                                   logits, t))  # fmt: skip
    return cases


def _entropy_variant(logits, temperature, scale=None, log=np.log, axis=-1, sign=-1.0):
    z = logits / temperature if scale is None else scale(logits, temperature)
    z = z - z.max(axis=axis, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    p = np.exp(log_p)
    h = sign * (p * log_p).sum(axis=-1)
    return h if log is np.log else h / np.log(2.0)


def _entropy_unshifted(logits, temperature):
    e = np.exp(logits / temperature)
    p = e / e.sum(axis=-1, keepdims=True)
    return -(p * np.log(p)).sum(axis=-1)


def _entropy_bounds(inputs, got):
    h = np.asarray(got[0], dtype=np.float64)
    V = inputs["logits"].shape[-1]
    if not np.isfinite(h).all():
        return f"it is not finite: {h}"
    bad = np.flatnonzero((h < -1e-12) | (h > math.log(V) + 1e-9))
    return (
        None
        if bad.size == 0
        else (f"row {bad[0]}: {h[bad[0]]:.6f}, outside [0, ln V = {math.log(V):.6f}]")
    )


SAMPLING_ENTROPY = Exercise(
    id="8.3",
    title="the entropy of softmax(logits / temperature), finite for any logits",
    signature="sampling_entropy(logits, temperature)",
    outputs=("entropy",),
    reference=sampling_entropy,
    edge_cases=_entropy_edge_cases,
    random_cases=_entropy_random_cases,
    library=(
        "tinytransformer.evaluation.entropy.sampling_entropy",
        "tinytransformer.ops.softmax.softmax_forward",
    ),
    mistakes=(
        Mistake(
            "the logits multiplied by the temperature",
            lambda logits, temperature: _entropy_variant(
                logits, temperature, scale=lambda x, t: x * t
            ),
            "Sampling divides the logits by the temperature: softmax(logits / T), so T > 1 "
            "flattens the distribution and raises the entropy.",
        ),
        Mistake(
            "in bits (log2) instead of nats",
            lambda logits, temperature: _entropy_variant(logits, temperature, log=np.log2),
            "The entropy in nats uses the natural logarithm: -sum p ln p (at most ln V).",
        ),
        Mistake(
            "the temperature left out",
            lambda logits, temperature: _entropy_variant(logits, temperature, scale=lambda x, t: x),
            "The distribution sampled from is softmax(logits / temperature): divide first.",
        ),
        Mistake(
            "the minus sign left out",
            lambda logits, temperature: _entropy_variant(logits, temperature, sign=1.0),
            "H = -sum p log p: log p <= 0, so the entropy is >= 0.",
        ),
        Mistake(
            "exp of the unshifted logits",
            _entropy_unshifted,
            "exp overflows above 709 (and a tiny temperature makes every logit huge): subtract "
            "each row's largest logit first, and take log p = z - log(sum exp z), never "
            "log(exp(z) / ...), so that a p of 0 gives 0 * (finite), not 0 * -inf.",
        ),
    ),
    properties=(
        Property(
            "entropy has one value per row: shape (N,)",
            lambda inputs, got: (
                None
                if np.shape(got[0]) == inputs["logits"].shape[:1]
                else f"its shape is {np.shape(got[0])}, not (N,) = {inputs['logits'].shape[:1]}"
            ),
        ),
        Property("0 <= entropy <= ln V in every row, and finite", _entropy_bounds),
    ),
    formula="z = (logits - logits.max(axis=-1, keepdims=True)) / temperature; log_p = z - "
    "log(exp(z).sum(axis=-1, keepdims=True)); H = -(exp(log_p) * log_p).sum(axis=-1).",
)

EXERCISES = [FIT_POWER_LAW, EXPOSURE, SAMPLING_ENTROPY]
