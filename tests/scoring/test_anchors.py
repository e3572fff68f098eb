"""Anchor choice by the METHOD.md rule, and anchors.json round trips."""

import numpy as np
import pandas as pd
import pytest

from w2s.scoring.anchors import Anchor, AnchorSet, EmptyInterval, anchor_matrix, candidates, choose
from w2s.scoring.inputs import Sampling, VideoInputs


def test_one_anchor_per_interval_nearest_its_midpoint():
    # range [0, 10] -> intervals of width 2, midpoints 1, 3, 5, 7, 9
    mu = pd.Series({"a": 0.0, "b": 1.2, "c": 0.7, "d": 2.9, "e": 3.5, "f": 5.0, "g": 4.1, "h": 6.2,
                    "i": 7.9, "j": 9.4, "k": 10.0})
    a = choose(mu, 5)
    assert list(a["uri"]) == ["b", "d", "f", "h", "j"]  # h: 6.2 is nearer 7 than 7.9
    assert np.allclose(a["mid"], [1, 3, 5, 7, 9])
    assert list(a["interval"]) == [0, 1, 2, 3, 4]
    # the ranked candidates stand in when an anchor cannot be decoded
    assert list(candidates(mu, 5)[0]["uri"]) == ["b", "c", "a"]


def test_the_top_of_the_range_falls_in_the_last_interval():
    mu = pd.Series({"x": 0.0, "y": 1.0, "z": 2.0})
    assert set(candidates(mu, 2)[1]["uri"]) == {"y", "z"}  # [1, 2], the maximum included
    assert list(choose(mu, 2)["uri"]) == ["x", "y"]         # y and z tie at 0.5 from 1.5: by uri


def test_an_empty_interval_is_a_clear_error():
    mu = pd.Series({"a": 0.0, "b": 0.1, "c": 0.2, "d": 9.9, "e": 10.0})
    with pytest.raises(EmptyInterval, match="scoring.num_anchors"):
        choose(mu, 5)
    with pytest.raises(EmptyInterval, match="5 anchors needed"):
        choose(mu.iloc[:3], 5)


def test_anchor_matrix_convention():
    m = anchor_matrix({(0, 1): 0.9, (0, 2): 0.2, (1, 2): 0.5}, 3)
    assert m[1, 0] == 0.9 and m[0, 1] == pytest.approx(0.1)  # c_01: anchor 1 (second) beats anchor 0
    assert m[2, 0] == 0.2 and m[0, 2] == pytest.approx(0.8)
    assert np.allclose(np.diag(m), 0.5) and np.allclose(m + m.T, 1)


def test_anchor_set_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    inputs = [VideoInputs(f"v{i}.mp4", rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8), None,
                          rng.standard_normal((2, 256)).astype(np.float32)) for i in range(3)]
    matrix = anchor_matrix({(0, 1): 0.7, (0, 2): 0.9, (1, 2): 0.6}, 3).tolist()
    s = AnchorSet([Anchor(x.uri, float(i), [i, i + 1.0], f"anchors/{i}.npz") for i, x in enumerate(inputs)],
                  matrix, Sampling(8, 2, "first", 32), link="logistic", teachers=["niqe"], inputs=inputs)
    s.save(str(tmp_path))
    back = AnchorSet.load(str(tmp_path))
    assert back.matrix == matrix and back.link == "logistic" and back.sampling == Sampling(8, 2, "first", 32)
    assert [a.uri for a in back.anchors] == ["v0.mp4", "v1.mp4", "v2.mp4"]
    for x, y in zip(inputs, back.inputs, strict=True):
        np.testing.assert_array_equal(x.frames, y.frames)
        np.testing.assert_array_equal(x.motion, y.motion)
    with pytest.raises(FileNotFoundError, match="anchors"):
        AnchorSet.load(str(tmp_path / "nothing"))
