"""The exercises of chapter 5 (项目实践, the article's code done right): a greedy decoding loop, the
top-p (nucleus) filter, GPT-2's byte-to-unicode table, and a generate_text that fixes the
article's bug (it decodes the logits instead of generated ids).

The references are the library's: GPT.generate with temperature 0, sampling.top_p_filter,
gpt2_tokenizer.bytes_to_unicode, generate_text. The models are small random GPTs (their argmax is
as good a test of a decoding loop as a trained model's), the tokenizer a character one; both
cross into a graded notebook as plain data (wire.GPTWeights, wire.CharVocab).
"""

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake, Property
from tinytransformer.exercises.wire import CharVocab, GPTWeights
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT, generate_text
from tinytransformer.models.sampling import top_p_filter
from tinytransformer.ops.softmax import softmax_forward
from tinytransformer.text.gpt2_tokenizer import bytes_to_unicode
from tinytransformer.text.tokenizers import CharTokenizer

MODEL_CLASS = "tinytransformer.models.gpt.GPT"
GENERATION = (  # the library's generation loop: what 5.1 asks to write
    "tinytransformer.models.gpt.GPT.generate",
    "tinytransformer.models.gpt.GPT.generate_iter",
    "tinytransformer.models.gpt.GPT._sample_steps",
    "tinytransformer.models.sampling.sample_next",
)


def random_gpt(seed, V=12, block_size=8):
    """A small GPT as plain data, its weights far enough from zero that its argmax varies by
    position."""
    config = GPTConfig(vocab_size=V, block_size=block_size, n_layer=1, n_head=2, n_embd=8)
    model = GPT(config, seed=int(seed), dtype=np.float64)
    rng = np.random.default_rng(seed)
    for p in model.params.values():
        p += rng.standard_normal(p.shape)
    return GPTWeights.of(model)


# --- 5.1 greedy decoding --------------------------------------------------------------------------


def _greedy(model, idx, max_new_tokens):
    return model.generate(idx, max_new_tokens, temperature=0, use_cache=False)


def _greedy_case(name, model, idx, n):
    return Case(name, {"model": model, "idx": idx, "max_new_tokens": n})


def _greedy_edge_cases():
    rng = np.random.default_rng(51)
    return [
        _greedy_case("one prompt, 5 new tokens", random_gpt(1), rng.integers(0, 12, (1, 3)), 5),
        _greedy_case("a batch of 3 prompts", random_gpt(2), rng.integers(0, 12, (3, 2)), 4),
        _greedy_case(
            "longer than block_size 8: the window slides",
            random_gpt(3),
            rng.integers(0, 12, (2, 6)),
            7,
        ),
        _greedy_case("zero new tokens", random_gpt(4), rng.integers(0, 12, (1, 4)), 0),
    ]


def _greedy_random_cases(rng):
    cases = []
    for _ in range(2):
        V, block = int(rng.choice([8, 12])), int(rng.choice([6, 8]))
        B, T, n = (int(x) for x in (rng.integers(1, 4), rng.integers(1, block), rng.integers(1, 9)))
        model = random_gpt(rng.integers(1 << 30), V, block)
        cases.append(
            _greedy_case(
                f"random: {B} prompt(s) of {T}, {n} new", model, rng.integers(0, V, (B, T)), n
            )
        )
    return cases


def _greedy_variant(model, idx, max_new_tokens, position=-1, keep_prompt=True):
    out = idx
    for _ in range(max_new_tokens):
        logits, _ = model(out[:, -model.config.block_size :])  # (B, T, V)
        nxt = logits[:, position].argmax(axis=-1)[:, None]  # (B, 1)
        out = np.concatenate([out, nxt], axis=1)
    return out if keep_prompt else out[:, idx.shape[1] :]


def _starts_with_prompt(inputs, got):
    out, idx = np.asarray(got[0]), inputs["idx"]
    if out.ndim != 2 or out.shape[0] != idx.shape[0] or out.shape[1] < idx.shape[1]:
        return None
    same = np.array_equal(out[:, : idx.shape[1]], idx)
    return None if same else "its first columns are not idx"


def _greedy_shape(inputs, got):
    B, T = inputs["idx"].shape
    want = (B, T + inputs["max_new_tokens"])
    shape = np.shape(got[0])
    return None if shape == want else f"it is {shape}, not {want}"


GREEDY = Exercise(
    id="5.1",
    title="a greedy decoding loop over a model's logits",
    signature="greedy_decode(model, idx, max_new_tokens)",
    outputs=("ids",),
    reference=_greedy,
    edge_cases=_greedy_edge_cases,
    random_cases=_greedy_random_cases,
    library=GENERATION,
    may_use=(MODEL_CLASS,),
    mistakes=(
        Mistake(
            "the first position's logits used instead of the last",
            lambda model, idx, max_new_tokens: _greedy_variant(model, idx, max_new_tokens, 0),
            "logits (B, T, V) predict the token after each position; the next token of the text "
            "is predicted by the LAST one: logits[:, -1].",
        ),
        Mistake(
            "only the new tokens returned",
            lambda model, idx, max_new_tokens: _greedy_variant(
                model, idx, max_new_tokens, keep_prompt=False
            ),
            "Return the prompt followed by the new tokens, (B, T + max_new_tokens), as "
            "model.generate does.",
        ),
    ),
    properties=(
        Property("the result has shape (B, T + max_new_tokens)", _greedy_shape),
        Property("the result starts with the prompt idx", _starts_with_prompt),
    ),
    formula="Repeat max_new_tokens times: logits, _ = model(ids[:, -block_size:]); append "
    "logits[:, -1].argmax(-1) as a new column. Crop to block_size: the position table has only "
    "that many rows.",
)


# --- 5.2 the top-p filter -------------------------------------------------------------------------


def _top_p_edge_cases():
    rng = np.random.default_rng(52)
    halves = np.log(np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]))
    return [
        Case("two rows of 6, p = 0.9", {"logits": rng.standard_normal((2, 6)), "p": 0.9}),
        Case(
            "a peaked row: the top token alone exceeds p",
            {"logits": np.array([[5.0, 0, 0, 0]]), "p": 0.5},
        ),
        # 0.5 + 0.3 is 0.7999999999999999 in floating point: a p of exactly 0.8 would be a knife
        # edge that right answers fall either side of, so p sits clearly on each side instead
        Case(
            "p just above 0.5 + 0.3: the third token is kept", {"logits": halves, "p": 0.8 + 1e-6}
        ),
        Case("p just below 0.5 + 0.3: two tokens kept", {"logits": halves, "p": 0.8 - 1e-6}),
        Case("p = 1 keeps everything", {"logits": rng.standard_normal((3, 5)), "p": 1.0}),
        Case("4 rows of 50, p = 0.5", {"logits": 2 * rng.standard_normal((4, 50)), "p": 0.5}),
    ]


def _top_p_random_cases(rng):
    cases = []
    for _ in range(3):
        B, V = int(rng.integers(1, 5)), int(rng.integers(3, 40))
        logits = float(rng.uniform(0.5, 3.0)) * rng.standard_normal((B, V))
        p = float(rng.uniform(0.05, 0.98))
        # keep p at least 1e-6 from every total the filter compares it with (no knife edge)
        probs = np.sort(softmax_forward(logits)[0], axis=-1)[:, ::-1]
        ahead = np.cumsum(probs, axis=-1) - probs
        while np.abs(ahead - p).min() < 1e-6:
            p = float(rng.uniform(0.05, 0.98))
        cases.append(Case(f"random ({B}, {V}), p = {p:.3f}", {"logits": logits, "p": p}))
    return cases


def _top_p_variant(logits, p, inclusive=True, sort=True, extra=0):
    probs, _ = softmax_forward(logits)
    if sort:
        order = np.argsort(-probs, axis=-1, kind="stable")
    else:
        order = np.tile(np.arange(probs.shape[-1]), (probs.shape[0], 1))
    sorted_p = np.take_along_axis(probs, order, axis=-1)
    total = np.cumsum(sorted_p, axis=-1)
    keep_sorted = (total - sorted_p < p) if inclusive else (total <= p)
    if extra:  # one more token than the nucleus
        count = keep_sorted.sum(axis=-1, keepdims=True)
        keep_sorted = np.arange(probs.shape[-1]) < count + extra
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, logits, -np.inf)


def _kept_unchanged(inputs, got):
    g, logits = np.asarray(got[0], dtype=float), inputs["logits"]
    if g.shape != logits.shape:
        return f"its shape is {g.shape}, not {logits.shape}"
    bad = ~((g == logits) | (g == -np.inf))
    if bad.any():
        i = tuple(int(j) for j in np.argwhere(bad)[0])
        return f"at {i} it holds {g[i]:.6g}, the logit is {logits[i]:.6g}"
    return None


def _top_token_kept(inputs, got):
    g, logits = np.asarray(got[0], dtype=float), inputs["logits"]
    if g.shape != logits.shape:
        return None
    top = logits.argmax(axis=-1)
    lost = np.flatnonzero(g[np.arange(len(top)), top] == -np.inf)
    return None if lost.size == 0 else f"row {int(lost[0])} lost its most likely token"


TOP_P = Exercise(
    id="5.2",
    title="the top-p (nucleus) filter: -inf outside the smallest set that reaches p",
    signature="top_p_filter(logits, p)",
    outputs=("filtered",),
    reference=top_p_filter,
    edge_cases=_top_p_edge_cases,
    random_cases=_top_p_random_cases,
    library=("tinytransformer.models.sampling.top_p_filter",),
    may_use=("tinytransformer.ops.softmax.softmax_forward",),
    mistakes=(
        Mistake(
            "the token that crosses p left out",
            lambda logits, p: _top_p_variant(logits, p, inclusive=False),
            "Keep a token while the probability of the tokens AHEAD of it is below p: the one "
            "that makes the total reach p is in the nucleus (and so is the top token, always).",
        ),
        Mistake(
            "one token past the nucleus kept",
            lambda logits, p: _top_p_variant(logits, p, extra=1),
            "The nucleus ends with the token that makes the total reach p: the next one is out. "
            "Compare the probability AHEAD of each token with p, not the total including it.",
        ),
        Mistake(
            "the cumulative sum taken before sorting by probability",
            lambda logits, p: _top_p_variant(logits, p, sort=False),
            "Sort the probabilities in decreasing order first (np.argsort(-probs)), accumulate "
            "along that order, then put the kept flags back in the vocabulary's order.",
        ),
    ),
    properties=(
        Property("every entry is the logit itself or -inf", _kept_unchanged),
        Property("the most likely token of every row is kept", _top_token_kept),
    ),
    formula="probs = softmax(logits); order = argsort(-probs); ahead = cumsum(sorted) - sorted; "
    "keep where ahead < p; scatter keep back through order; -inf elsewhere.",
)


# --- 5.3 GPT-2's byte-to-unicode table ------------------------------------------------------------

PRINTABLE = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
PRINTABLE += [*range(ord("®"), ord("ÿ") + 1)]


def _table_variant(start=256, latin1=True):
    printable = PRINTABLE if latin1 else [*range(ord("!"), ord("~") + 1)]
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(start + shifted)
            shifted += 1
    return table


def _table_property(check):
    def broken(inputs, got):
        table = got[0]
        return check(table) if isinstance(table, dict) else f"it is a {type(table).__name__}"

    return broken


def _entries(table):
    return None if sorted(table) == list(range(256)) else f"its keys are not 0..255 ({len(table)})"


def _characters(table):
    bad = [b for b, c in table.items() if not (isinstance(c, str) and len(c) == 1)]
    return None if not bad else f"byte {bad[0]!r} maps to {table[bad[0]]!r}"


def _distinct(table):
    values = list(table.values())
    return None if len(set(values)) == len(values) else "two bytes share a character"


def _printable_kept(table):
    bad = [b for b in PRINTABLE if table.get(b) != chr(b)]
    return None if not bad else f"byte {bad[0]} ({chr(bad[0])!r}) maps to {table.get(bad[0])!r}"


TABLE = Exercise(
    id="5.3",
    title="GPT-2's byte-to-unicode table: a printable character for each of the 256 bytes",
    signature="bytes_to_unicode()",
    outputs=("table",),
    reference=lambda: dict(bytes_to_unicode()),
    edge_cases=lambda: [Case("the one table", {})],
    random_cases=lambda rng: [],
    library=("tinytransformer.text.gpt2_tokenizer.bytes_to_unicode",),
    mistakes=(
        Mistake(
            "the shifted bytes start at 255, not 256",
            lambda: _table_variant(start=255),
            "The bytes that are not printable get chr(256), chr(257), ... in byte order: 255 is "
            "itself printable ('ÿ'), so it would appear twice.",
        ),
        Mistake(
            "only ASCII's printable bytes kept as themselves",
            lambda: _table_variant(latin1=False),
            "Latin-1's printable ranges '¡'..'¬' and '®'..'ÿ' stand for themselves too; only the "
            "other 68 bytes are shifted.",
        ),
        Mistake(
            "every byte mapped to itself",
            lambda: {b: chr(b) for b in range(256)},
            "A space or a newline would then be a token string's character, and the vocabulary "
            "file would hold whitespace and control codes: shift those bytes up past 255.",
        ),
    ),
    properties=(
        Property("one entry for each byte 0..255", _table_property(_entries)),
        Property("every value is a single character", _table_property(_characters)),
        Property("no two bytes share a character", _table_property(_distinct)),
        Property("the printable bytes stand for themselves", _table_property(_printable_kept)),
    ),
    formula="Keep '!'..'~', '¡'..'¬' and '®'..'ÿ' as themselves (188 bytes); give every other "
    "byte, in order, chr(256 + n) for n = 0, 1, 2, ... A space becomes 'Ġ', a newline 'Ċ'.",
)


# --- 5.4 generate_text, the article's snippet fixed -----------------------------------------------

ALPHABET = "abcdefgh "


def _generate_text(model, tokenizer, prompt, n):
    # the library's generate_text, greedy; the exercise does not ask to keep special tokens out
    # (the library does by default), so allow_special=True
    return generate_text(model, tokenizer, prompt, n, temperature=0, allow_special=True)


def _text_case(name, seed, prompt, n):
    tok = CharTokenizer.train(ALPHABET)
    inputs = {"model": random_gpt(seed, tok.vocab_size), "tokenizer": CharVocab("".join(tok.chars))}
    return Case(name, {**inputs, "prompt": prompt, "n": n})


def _text_edge_cases():
    return [
        _text_case("'abc' + 5 tokens", 5, "abc", 5),
        _text_case("'a' + 10 tokens (past block_size)", 6, "a", 10),
        _text_case("'bad face' + 3 tokens", 7, "bad face", 3),
    ]


def _text_random_cases(rng):
    cases = []
    for _ in range(2):
        prompt = "".join(rng.choice(list(ALPHABET), size=int(rng.integers(1, 7))))
        n = int(rng.integers(1, 9))
        cases.append(
            _text_case(f"random: {prompt!r} + {n} tokens", rng.integers(1 << 30), prompt, n)
        )
    return cases


def _article_snippet(model, tokenizer, prompt, n):
    logits, _ = model(np.array([tokenizer.encode(prompt)]))
    return tokenizer.decode(logits[0].argmax(-1).tolist())


def _text_starts_with_prompt(inputs, got):
    text = got[0]
    if not isinstance(text, str):
        return f"it is a {type(text).__name__}"
    return None if text.startswith(inputs["prompt"]) else f"it starts {text[:20]!r}"


TEXT = Exercise(
    id="5.4",
    title="generate_text: encode, generate greedily, decode the generated ids (not the logits)",
    signature="generate_text(model, tokenizer, prompt, n)",
    outputs=("text",),
    reference=_generate_text,
    edge_cases=_text_edge_cases,
    random_cases=_text_random_cases,
    library=("tinytransformer.models.gpt.generate_text",),
    may_use=(MODEL_CLASS, "tinytransformer.text.tokenizers.CharTokenizer"),
    mistakes=(
        Mistake(
            "only the continuation returned, without the prompt",
            lambda model, tokenizer, prompt, n: _generate_text(model, tokenizer, prompt, n)[
                len(prompt) :
            ],
            "Return the whole text, prompt and continuation, as the article's snippet means to.",
        ),
        Mistake(
            "the tokenizer's special tokens kept out (the library's default)",
            lambda model, tokenizer, prompt, n: generate_text(
                model, tokenizer, prompt, n, temperature=0
            ),
            "Right for real use, but this exercise asks for plain greedy decoding: every id may "
            "be picked, [MASK] too (the check's random models like those).",
        ),
        Mistake(
            "one forward pass decoded, nothing generated (the article's snippet)",
            _article_snippet,
            "A forward pass gives logits, one prediction per position of the prompt; generating "
            "means appending the prediction of the last position and running the model again, "
            "n times, then decoding the ids.",
        ),
    ),
    properties=(Property("the text starts with the prompt", _text_starts_with_prompt),),
    formula="ids = tokenizer.encode(prompt); out = model.generate(np.array([ids]), n, "
    "temperature=0); return tokenizer.decode(out[0].tolist()).",
)

EXERCISES = [GREEDY, TOP_P, TABLE, TEXT]
