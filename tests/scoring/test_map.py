"""The batched MAP of METHOD.md Eq. 35 against scipy, its monotonicity, degenerate matrices."""

import numpy as np
import pytest
from scipy.optimize import minimize

from w2s.scoring import map_scores
from w2s.scoring.mapping import objective, scale_0_100, solve
from w2s.scoring.scorer import test_matrices as build_matrices


def random_matrices(b, n, seed=0):
    rng = np.random.default_rng(seed)
    m = np.triu(rng.random((b, n, n)), 1)
    m = m + np.tril(1 - np.swapaxes(m, 1, 2), -1)
    m[:, range(n), range(n)] = 0.5
    return m


@pytest.mark.parametrize("link", ["phi", "logistic"])
def test_agrees_with_scipy_minimize_per_matrix(link):
    m = random_matrices(40, 6, seed=1)
    ours = map_scores(m, link=link)
    for i in range(len(m)):
        res = minimize(lambda q, mm=m[i]: -objective(q[None], mm[None], link)[0], np.zeros(6), method="BFGS",
                       options={"gtol": 1e-7})
        ref = scale_0_100(res.x[None])[0]
        assert np.abs(ours[i] - ref).max() < 1e-3
    # the maximiser: no direction improves the objective
    q = solve(m, link)
    f = objective(q, m, link)
    rng = np.random.default_rng(2)
    for _ in range(5):
        assert (objective(q + 1e-3 * rng.standard_normal(q.shape), m, link) <= f + 1e-12).all()


def test_shapes_single_and_batched():
    m = random_matrices(3, 5)
    assert map_scores(m).shape == (3, 5) and map_scores(m[0]).shape == (5,)
    np.testing.assert_allclose(map_scores(m[1]), map_scores(m)[1])
    s = map_scores(m)
    assert np.allclose(s.min(-1), 0) and np.allclose(s.max(-1), 100)


def test_monotone_in_the_test_videos_comparisons():
    """Raising the test video's c against every anchor never lowers its score."""
    rng = np.random.default_rng(3)
    anchors = random_matrices(1, 5, seed=4)[0]
    for _ in range(20):
        c = np.sort(rng.random((2, 5)), axis=0)  # row 1 >= row 0 against every anchor
        lo, hi = map_scores(build_matrices(anchors, c))[:, 5]
        assert hi >= lo - 1e-9
    grid = np.linspace(0, 1, 11)[:, None].repeat(5, axis=1)
    scores = map_scores(build_matrices(anchors, grid))[:, 5]
    assert (np.diff(scores) >= -1e-9).all() and scores[-1] > scores[0]


def test_degenerate_matrices():
    half = np.full((6, 6), 0.5)
    np.testing.assert_array_equal(map_scores(half), np.full(6, 50.0))  # no spread: everyone 50
    ones = np.ones((6, 6))
    assert np.isfinite(map_scores(ones)).all()  # contradictory all-1 matrix: the prior keeps q finite
    dominance = np.triu(np.ones((6, 6)))        # video 0 beats everyone with certainty
    s = map_scores(dominance, link="phi")
    assert s[0] == 100 and s[-1] == 0 and (np.diff(s) < 0).all()
    zeros = np.zeros((2, 4, 4))
    assert np.isfinite(map_scores(zeros)).all()


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="shape"):
        map_scores(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        map_scores(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        map_scores(np.full((3, 3), 2.0))
    with pytest.raises(ValueError, match="link"):
        map_scores(np.full((3, 3), 0.5), link="probit")
