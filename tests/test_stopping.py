"""early_stopping (training/stopping.py), and fit stopping by the same rule."""

import numpy as np
import pytest

from tests.test_loop import run_fit
from tinytransformer.training.loop import BestWeights
from tinytransformer.training.stopping import Patience, early_stopping, patience_ran_out


@pytest.mark.parametrize(
    "losses, patience, want",
    [
        ([3.0, 2.0, 2.5, 2.0, 2.1], 3, (1, 4)),  # an equal loss is no improvement
        ([3.0, 2.0, 2.5, 1.0, 2.1], 3, (3, 4)),  # never ran out: the last index
        ([1.0, 2.0, 3.0, 0.5], 2, (0, 2)),  # stops before the later 0.5
        ([5.0], 1, (0, 0)),
        ([2.0, 2.0], 1, (0, 1)),
        ([4.0, 3.0, 2.0, 1.0], 1, (3, 3)),
        ([3.0, 2.0, 2.0, 2.0, 1.0], 2, (1, 3)),  # a plateau runs patience out
    ],
)
def test_worked_examples(losses, patience, want):
    assert early_stopping(losses, patience) == want


def test_patience_ran_out_is_none_when_it_never_does():
    assert patience_ran_out([3.0, 2.0, 2.5], 2) is None
    assert patience_ran_out([3.0, 2.0, 2.5, 2.6], 2) == 3
    with pytest.raises(ValueError, match="patience"):
        patience_ran_out([1.0], 0)
    with pytest.raises(ValueError, match="val_losses"):
        early_stopping([], 2)


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_fit_stops_where_early_stopping_says(patience):
    script = [3.0, 2.0, 2.4, 2.0, 1.5, 1.6, 1.7, 1.5, 1.9, 1.4, 2.0, 2.1, 2.2, 2.3]
    result, evals, _, _ = run_fit(
        val_losses=script, max_iters=2 * (len(script) - 1), eval_interval=2, patience=patience
    )
    best, stop = early_stopping(script, patience)
    assert result.step == 2 * stop and result.best.step == 2 * best and len(evals) == stop + 1
    assert result.ended == ("early stop" if stop < len(script) - 1 else "done")


def test_a_resumed_fit_counts_patience_against_the_best_it_had():
    result, _, _, _ = run_fit(
        val_losses=[2.0] * 10,  # never below the 1.0 it had before
        max_iters=100,
        eval_interval=5,
        patience=2,
        step=50,
        best=BestWeights(1.0, 40),
    )
    assert result.ended == "early stop" and result.step == 55 and result.best.step == 40


def test_patience_one_at_a_time_runs_out_where_the_rule_says():
    """fit counts with Patience. Against the rule written out directly: evaluation j is "bad"
    when it is not strictly below every loss before it; patience has run out at i when the
    `patience` evaluations ending at i are all bad. Histories with plateaus and ties."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        losses = rng.integers(0, 4, size=rng.integers(1, 12)).tolist()
        patience = int(rng.integers(1, 4))
        bad = [j > 0 and losses[j] >= min(losses[:j]) for j in range(len(losses))]
        want = [i + 1 >= patience and all(bad[i + 1 - patience : i + 1]) for i in range(len(bad))]
        waiting = Patience(patience)
        assert [waiting.update(loss) for loss in losses] == want, (losses, patience)
        first = want.index(True) if True in want else None
        assert patience_ran_out(losses, patience) == first, (losses, patience)
    with pytest.raises(ValueError, match="patience"):
        Patience(0)
