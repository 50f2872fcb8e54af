"""seed_summary: the mean, sd (ddof=1) and standard error of a result over seeds."""

import math

import numpy as np
import pytest

from tinytransformer.evaluation.statistics import seed_summary


def test_worked_examples():
    assert seed_summary([1.0, 2.0, 3.0]) == (2.0, 1.0, 1.0 / math.sqrt(3.0))
    mean, sd, se = seed_summary([2, 4, 4, 4, 5, 5, 7, 9])  # population sd 2, sample sd 2.138
    assert mean == 5.0 and sd == pytest.approx(math.sqrt(32 / 7))
    assert se == pytest.approx(sd / math.sqrt(8))
    assert seed_summary([0.3, 0.3]) == (0.3, 0.0, 0.0)


def test_agrees_with_numpy_ddof_1():
    x = np.random.default_rng(0).uniform(0, 1, 7)
    mean, sd, se = seed_summary(list(x))
    assert mean == pytest.approx(x.mean()) and sd == pytest.approx(x.std(ddof=1))
    assert se == pytest.approx(x.std(ddof=1) / math.sqrt(7))
    assert all(type(v) is float for v in (mean, sd, se))


@pytest.mark.parametrize("values", [[1.0], [], [[1.0, 2.0]], [1.0, float("nan")]])
def test_refuses_what_has_no_spread(values):
    with pytest.raises(ValueError, match="values"):
        seed_summary(values)
