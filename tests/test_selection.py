import numpy as np
import pytest

from w2s.selection import bin_codes, histograms, random_subset_tv, select, tv_distance


def _data(v=600, seed=0):
    rng = np.random.default_rng(seed)
    cand = rng.normal(size=(v, 4))
    ref = rng.normal(0.8, 0.5, size=(300, 4))  # a shifted, narrower target
    return cand, ref


def test_selected_subset_is_far_closer_to_the_target_than_random():
    cand, ref = _data()
    sel = select(cand, ref, 100, bins=7)
    assert len(sel.indices) == 100 and len(set(sel.indices)) == 100
    rnd = random_subset_tv(cand, ref, 100, bins=7)
    assert sel.tv < 0.5 * rnd, (sel.tv, rnd)


def test_milp_and_lp_agree_on_the_objective():
    cand, ref = _data(200, seed=1)
    lp = select(cand, ref, 40, bins=5, method="lp")
    milp = select(cand, ref, 40, bins=5, method="milp", time_limit=60)
    assert milp.tv <= lp.tv + 0.05


def test_aggregation_by_bin_signature_is_exact():
    # many duplicate signatures: 3 distinct points repeated
    base = np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    cand = np.repeat(base, [50, 30, 20], axis=0)
    ref = np.repeat(base, [1, 1, 2], axis=0)  # target 25 % / 25 % / 50 %
    sel = select(cand, ref, 20, bins=3)
    assert sel.cells == 3
    counts = np.bincount(bin_codes(cand[sel.indices], cand.min(0), cand.max(0), 3)[:, 0], minlength=3)
    assert counts.tolist() == [5, 5, 10] and sel.tv == pytest.approx(0.0)


def test_histograms_and_tv():
    codes = np.array([[0], [0], [1], [2]])
    h = histograms(codes, 3)
    assert h.tolist() == [[0.5, 0.25, 0.25]]
    assert tv_distance(h, np.array([[0.5, 0.25, 0.25]]))[0] == 0
    assert tv_distance(h, np.array([[0.0, 0.0, 1.0]]))[0] == pytest.approx(0.75)


def test_bad_requests():
    cand, ref = _data(10)
    with pytest.raises(ValueError):
        select(cand, ref, 11)
    with pytest.raises(ValueError):
        select(cand, ref[:, :2], 5)
    cand[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        select(cand, ref, 5)
