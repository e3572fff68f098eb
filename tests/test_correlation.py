import numpy as np
import pytest

from w2s.correlation import correlations, logistic4


def test_perfect_rank_agreement():
    x = np.arange(20.0)
    c = correlations(x, x ** 3)
    assert c["srcc"] == pytest.approx(1.0) and c["krcc"] == pytest.approx(1.0)
    assert c["plcc_raw"] < 0.95  # nonlinear
    assert c["plcc"] > c["plcc_raw"]


def test_logistic_fit_linearises_a_logistic_relation():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 200)
    y = logistic4(x, 80, 20, 0.5, 0.7) + rng.normal(0, 0.5, 200)
    c = correlations(x, y)
    assert c["plcc"] > 0.99 and c["plcc"] > c["plcc_raw"]


def test_anticorrelated_and_bad_input():
    x = np.arange(10.0)
    assert correlations(x, -x)["srcc"] == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        correlations([1, 2], [1, 2])


def test_few_points_give_the_raw_plcc_not_a_fit():
    from w2s.correlation import correlations

    for n in (3, 4):
        c = correlations(np.arange(n, dtype=float), np.array([1.0, 3, 2, 5][:n]))
        assert c["plcc"] == c["plcc_raw"]
