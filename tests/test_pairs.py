import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from w2s.pairs import (
    ensemble_label,
    ensemble_pairs,
    ensemble_stats,
    normalise_teachers,
    sample_pairs,
    severity_label,
    synthetic_pairs,
    to_conversations,
)


def test_ensemble_label_matches_the_probability_cuts():
    rng = np.random.default_rng(0)
    mu_a, mu_b = rng.normal(size=2000), rng.normal(size=2000)
    va, vb = rng.uniform(0.01, 1, 2000), rng.uniform(0.01, 1, 2000)
    labels = ensemble_label(mu_a, va, mu_b, vb)
    p = norm.cdf((mu_b - mu_a) / np.sqrt(va + vb))
    expect = np.select([p > 0.97725, p > 0.84134, p > 0.15866, p > 0.02275],
                       ["superior", "better", "similar", "worse"], "inferior")
    assert (labels == expect).mean() > 0.995  # equal up to the rounding of the cut points


def test_ensemble_label_zero_spread_guard():
    assert list(ensemble_label([1, 1, 1], [0, 0, 0], [2, 1, 0], [0, 0, 0])) == ["superior", "similar", "inferior"]


def test_teacher_normalisation_and_stats():
    scores = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 30.0, 20.0], "flat": [5.0, 5.0, 5.0]},
                          index=["u1", "u2", "u3"])
    z = normalise_teachers(scores)
    assert list(z.columns) == ["a", "b"]
    assert np.allclose(z.mean(), 0) and np.allclose(z.std(ddof=0), 1)
    st = ensemble_stats(z)
    assert st.loc["u1", "var"] == pytest.approx(np.var(z.loc["u1"]))


def test_sampled_pairs_are_distinct_and_valid():
    rng = np.random.default_rng(1)
    p = sample_pairs(30, 200, rng)
    assert len({tuple(sorted(x)) for x in p}) == 200 and (p[:, 0] != p[:, 1]).all() and p.max() < 30
    assert len(sample_pairs(4, 100, rng)) == 6


def test_severity_rule():
    assert [severity_label(a, b) for a, b in [(3, 1), (2, 1), (1, 2), (1, 3)]] == \
        ["superior", "better", "worse", "inferior"]
    with pytest.raises(ValueError):
        severity_label(2, 2)


def test_synthetic_pairs_and_export():
    rendered = pd.DataFrame({"uri": [f"s_L{i}.mp4" for i in (1, 2, 3)], "source": "s", "family": "blur",
                             "group": "spatial", "level": [1, 2, 3]})
    pairs = synthetic_pairs(rendered)
    assert len(pairs) == 6 and set(pairs["label"]) == {"superior", "better", "worse", "inferior"}
    stats = pd.DataFrame({"mu": [0.0, 1.0, 2.0], "var": [0.1, 0.1, 0.1]}, index=["a", "b", "c"])
    ens = ensemble_pairs(stats, 3, seed=0)
    conv = to_conversations(pd.concat([ens, pairs]))
    assert len(conv) == 9 and conv[0]["conversations"][1]["value"].count("<image>") == 4
