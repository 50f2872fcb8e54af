"""evaluation/memorisation.py: exposure on worked examples (Carlini et al.'s definition, ties
included), canaries inserted whole and counted, log-probabilities equal to the model's own
loss, and greedy match lengths on streams the model wrote itself."""

import math

import numpy as np
import pytest

from tests.test_anatomy import trained_like_gpt
from tinytransformer.evaluation.memorisation import (
    continuation_logprob,
    exposure,
    greedy_match_length,
    insert_canaries,
    random_secret,
)


def test_exposure_worked_examples():
    assert exposure(0.0, [0.0, -1.0, -2.0, -3.0]) == 2.0  # ranked first of 4: log2(4)
    assert exposure(-3.0, [0.0, -1.0, -2.0, -3.0]) == 0.0  # ranked last
    assert exposure(-1.0, [-1.0, -1.0, -1.0, -1.0]) == 2.0  # ties are not "strictly higher"
    assert exposure(-2.0, np.linspace(0, -7, 8)) == pytest.approx(3 - math.log2(3))


def test_exposure_needs_candidates():
    with pytest.raises(ValueError, match="candidate_logprobs"):
        exposure(0.0, [])


def test_canaries_are_inserted_whole_as_lines():
    text = "".join(f"line {i} of the text\n" for i in range(50))
    rng = np.random.default_rng(0)
    out = insert_canaries(text, [("code 123", 3), ("code 999", 1)], rng)
    lines = out.split("\n")
    assert lines.count("code 123") == 3 and lines.count("code 999") == 1
    assert "\n".join(x for x in lines if not x.startswith("code ")) == text  # nothing else moved
    with pytest.raises(ValueError, match="one-line"):
        insert_canaries(text, [("a\nb", 1)], rng)


def test_random_secrets_follow_their_generator():
    a = random_secret(np.random.default_rng(5), 8, "ab")
    assert a == random_secret(np.random.default_rng(5), 8, "ab") and set(a) <= {"a", "b"}


def test_the_log_probability_is_minus_the_loss_times_the_tokens():
    model = trained_like_gpt()
    rng = np.random.default_rng(1)
    prefix, conts = rng.integers(0, 11, 4), rng.integers(0, 11, (5, 3))
    got = continuation_logprob(model, prefix, conts, batch_size=2)  # two rows per forward
    for r in range(5):
        seq = np.concatenate([prefix, conts[r]])[None]  # (1, 7)
        targets = np.full((1, 6), -100)
        targets[0, 3:] = conts[r]  # only the continuation's tokens are scored
        _, loss = model(seq[:, :-1], targets)
        assert got[r] == pytest.approx(-3 * float(loss), rel=1e-12)


def test_a_stream_the_model_wrote_greedily_is_matched_to_its_first_change():
    model = trained_like_gpt(2)
    prompt = np.array([[3, 1, 4], [1, 5, 9]])
    written = model.generate(prompt, 5, temperature=0.0)  # (2, 8): block_size
    ids = written.ravel()  # two greedy streams one after the other
    assert greedy_match_length(model, ids, [0, 8], 3, 5).tolist() == [5, 5]
    changed = ids.copy()
    changed[8 + 3 + 2] = (changed[8 + 3 + 2] + 1) % 11  # the third new token of stream 2
    assert greedy_match_length(model, changed, [0, 8], 3, 5).tolist() == [5, 2]
    with pytest.raises(ValueError, match="starts"):
        greedy_match_length(model, ids, [10], 3, 5)
