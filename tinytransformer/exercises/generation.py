"""The exercises of chapter 5 (项目实践, the article's code done right): a greedy decoding loop, the
top-p (nucleus) filter, GPT-2's byte-to-unicode table, and a generate_text that fixes the
article's bug (it decodes the logits instead of generated ids).

The references are the library's: GPT.generate with temperature 0, sampling.top_p_filter,
gpt2_tokenizer.bytes_to_unicode. The models are small random GPTs (their argmax is as good a
test of a decoding loop as a trained model's), the tokenizer a character one.
"""

import numpy as np

from tinytransformer.exercises.spec import Case, Exercise, Mistake
from tinytransformer.models.config import GPTConfig
from tinytransformer.models.gpt import GPT, generate_text
from tinytransformer.models.sampling import top_p_filter
from tinytransformer.ops.softmax import softmax_forward
from tinytransformer.text.gpt2_tokenizer import bytes_to_unicode
from tinytransformer.text.tokenizers import CharTokenizer


def _model(seed, V=12, block_size=8):
    """A small GPT whose weights are far enough from zero that its argmax varies by position."""
    model = GPT(GPTConfig(vocab_size=V, block_size=block_size, n_layer=1, n_head=2, n_embd=8),
                seed=seed, dtype=np.float64)  # fmt: skip
    rng = np.random.default_rng(seed)
    for p in model.params.values():
        p += rng.standard_normal(p.shape)
    return model.eval()


# --- 5.1 greedy decoding --------------------------------------------------------------------------


def _greedy(model, idx, max_new_tokens):
    return model.generate(idx, max_new_tokens, temperature=0, use_cache=False)


def _greedy_cases():
    rng = np.random.default_rng(51)
    return [
        Case(
            "one prompt, 5 new tokens",
            {"model": _model(1), "idx": rng.integers(0, 12, (1, 3)), "max_new_tokens": 5},
        ),  # fmt: skip
        Case(
            "a batch of 3 prompts",
            {"model": _model(2), "idx": rng.integers(0, 12, (3, 2)), "max_new_tokens": 4},
        ),  # fmt: skip
        Case(
            "longer than block_size 8: the window slides",
            {"model": _model(3), "idx": rng.integers(0, 12, (2, 6)), "max_new_tokens": 7},
        ),  # fmt: skip
        Case(
            "zero new tokens",
            {"model": _model(4), "idx": rng.integers(0, 12, (1, 4)), "max_new_tokens": 0},
        ),  # fmt: skip
    ]


def _greedy_variant(model, idx, max_new_tokens, position=-1, keep_prompt=True):
    out = idx
    for _ in range(max_new_tokens):
        logits, _ = model(out[:, -model.config.block_size :])  # (B, T, V)
        nxt = logits[:, position].argmax(axis=-1)[:, None]  # (B, 1)
        out = np.concatenate([out, nxt], axis=1)
    return out if keep_prompt else out[:, idx.shape[1] :]


GREEDY = Exercise(
    id="5.1",
    title="a greedy decoding loop over a model's logits",
    signature="greedy_decode(model, idx, max_new_tokens)",
    outputs=("ids",),
    reference=_greedy,
    cases=_greedy_cases,
    mistakes=[
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
    ],
    hint="Repeat max_new_tokens times: logits, _ = model(ids[:, -block_size:]); append "
    "logits[:, -1].argmax(-1) as a new column. Crop to block_size: the position table has only "
    "that many rows.",
)


# --- 5.2 the top-p filter -------------------------------------------------------------------------


def _top_p_cases():
    rng = np.random.default_rng(52)
    return [
        Case("two rows of 6, p = 0.9", {"logits": rng.standard_normal((2, 6)), "p": 0.9}),
        Case(
            "a peaked row: the top token alone exceeds p",
            {"logits": np.array([[5.0, 0, 0, 0]]), "p": 0.5},
        ),  # fmt: skip
        Case(
            "p reached exactly: 0.5 + 0.3 = 0.8",
            {"logits": np.log(np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])), "p": 0.8},
        ),  # fmt: skip
        Case("p = 1 keeps everything", {"logits": rng.standard_normal((3, 5)), "p": 1.0}),
        Case("4 rows of 50, p = 0.5", {"logits": 2 * rng.standard_normal((4, 50)), "p": 0.5}),
    ]


def _top_p_variant(logits, p, inclusive=True, sort=True):
    probs, _ = softmax_forward(logits)
    order = np.argsort(-probs, axis=-1, kind="stable") if sort else np.tile(
        np.arange(probs.shape[-1]), (probs.shape[0], 1)
    )  # fmt: skip
    sorted_p = np.take_along_axis(probs, order, axis=-1)
    total = np.cumsum(sorted_p, axis=-1)
    keep_sorted = (total - sorted_p < p - 1e-12) if inclusive else (total <= p + 1e-12)
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, logits, -np.inf)


TOP_P = Exercise(
    id="5.2",
    title="the top-p (nucleus) filter: -inf outside the smallest set that reaches p",
    signature="top_p_filter(logits, p)",
    outputs=("filtered",),
    reference=top_p_filter,
    cases=_top_p_cases,
    mistakes=[
        Mistake(
            "the token that crosses p left out",
            lambda logits, p: _top_p_variant(logits, p, inclusive=False),
            "Keep a token while the probability of the tokens AHEAD of it is below p: the one "
            "that makes the total reach p is in the nucleus (and so is the top token, always).",
        ),
        Mistake(
            "the cumulative sum taken before sorting by probability",
            lambda logits, p: _top_p_variant(logits, p, sort=False),
            "Sort the probabilities in decreasing order first (np.argsort(-probs)), accumulate "
            "along that order, then put the kept flags back in the vocabulary's order.",
        ),
    ],
    hint="probs = softmax(logits); order = argsort(-probs); ahead = cumsum(sorted) - sorted; "
    "keep where ahead < p; scatter keep back through order; -inf elsewhere.",
)


# --- 5.3 GPT-2's byte-to-unicode table ------------------------------------------------------------


def _table_variant(start=256, latin1=True):
    printable = [*range(ord("!"), ord("~") + 1)]
    if latin1:
        printable += [*range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(start + shifted)
            shifted += 1
    return table


TABLE = Exercise(
    id="5.3",
    title="GPT-2's byte-to-unicode table: a printable character for each of the 256 bytes",
    signature="bytes_to_unicode()",
    outputs=("table",),
    reference=lambda: dict(bytes_to_unicode()),
    cases=lambda: [Case("the one table", {})],
    mistakes=[
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
    ],
    hint="Keep '!'..'~', '¡'..'¬' and '®'..'ÿ' as themselves (188 bytes); give every other byte, "
    "in order, chr(256 + n) for n = 0, 1, 2, ... A space becomes 'Ġ', a newline 'Ċ'.",
)


# --- 5.4 generate_text, the article's snippet fixed -----------------------------------------------


def _generate_text(model, tokenizer, prompt, n):
    # the library's generate_text, greedy; the exercise does not ask to keep special tokens out
    # (the library does by default), so allow_special=True
    return generate_text(model, tokenizer, prompt, n, temperature=0, allow_special=True)


def _text_cases():
    tok = CharTokenizer.train("abcdefgh ")
    V = tok.vocab_size
    return [
        Case(
            "'abc' + 5 tokens", {"model": _model(5, V), "tokenizer": tok, "prompt": "abc", "n": 5}
        ),  # fmt: skip
        Case(
            "'a' + 10 tokens (past block_size)",
            {"model": _model(6, V), "tokenizer": tok, "prompt": "a", "n": 10},
        ),  # fmt: skip
        Case(
            "'bad face' + 3 tokens",
            {"model": _model(7, V), "tokenizer": tok, "prompt": "bad face", "n": 3},
        ),  # fmt: skip
    ]


TEXT = Exercise(
    id="5.4",
    title="generate_text: encode, generate greedily, decode the generated ids (not the logits)",
    signature="generate_text(model, tokenizer, prompt, n)",
    outputs=("text",),
    reference=_generate_text,
    cases=_text_cases,
    mistakes=[
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
            ),  # fmt: skip
            "Right for real use, but this exercise asks for plain greedy decoding: every id may "
            "be picked, [MASK] too (the check's random models like those).",
        ),
        Mistake(
            "one forward pass decoded, nothing generated (the article's snippet)",
            lambda model, tokenizer, prompt, n: tokenizer.decode(
                model(np.array([tokenizer.encode(prompt)]))[0][0].argmax(-1).tolist()
            ),
            "A forward pass gives logits, one prediction per position of the prompt; generating "
            "means appending the prediction of the last position and running the model again, "
            "n times, then decoding the ids.",
        ),
    ],
    hint="ids = tokenizer.encode(prompt); out = model.generate(np.array([ids]), n, "
    "temperature=0); return tokenizer.decode(out[0].tolist()).",
)

EXERCISES = [GREEDY, TOP_P, TABLE, TEXT]
