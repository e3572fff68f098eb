"""Both orders of a pair in one step: mirrored labels, one row per unordered pair, swapped columns."""

import numpy as np
import pandas as pd
import pytest

from w2s.conversation import LEVELS, mirror_label
from w2s.pairs import severity_label
from w2s.student.mirror import canonical_pairs, with_mirrors


@pytest.mark.parametrize("i,j", [(1, 2), (1, 5), (4, 3), (5, 1)])
def test_mirror_label_is_the_label_of_the_swapped_synthetic_pair(i, j):
    assert mirror_label(severity_label(i, j)) == severity_label(j, i)


def test_mirror_label_is_an_involution_and_keeps_similar():
    assert mirror_label("similar") == "similar"
    assert [mirror_label(mirror_label(x)) for x in LEVELS] == list(LEVELS)
    with pytest.raises(ValueError):
        mirror_label("fine")


def test_canonical_pairs_keeps_one_row_per_unordered_pair():
    p = pd.DataFrame({"first_uri": ["a", "b", "a", "c", "a"], "second_uri": ["b", "a", "c", "d", "b"],
                      "label": ["better", "worse", "similar", "inferior", "better"]})
    out = canonical_pairs(p)
    assert list(zip(out["first_uri"], out["second_uri"], strict=True)) == [("a", "b"), ("a", "c"), ("c", "d")]
    assert list(out["label"]) == ["better", "similar", "inferior"]


def test_with_mirrors_interleaves_swapped_rows():
    b = {"first_uri": np.array(["a", "c"], dtype=object), "second_uri": np.array(["b", "d"], dtype=object),
         "label": np.array(["superior", "worse"], dtype=object),
         "first_frames": np.array([b"A", b"C"], dtype=object), "second_frames": np.array([b"B", b"D"], dtype=object),
         "first_num_frames": np.array([1, 2]), "second_num_frames": np.array([3, 4]),
         "error": np.array([None, None], dtype=object)}
    out = with_mirrors(b)
    assert list(out["first_uri"]) == ["a", "b", "c", "d"] and list(out["second_uri"]) == ["b", "a", "d", "c"]
    assert list(out["label"]) == ["superior", "inferior", "worse", "better"]
    assert list(out["first_frames"]) == [b"A", b"B", b"C", b"D"]
    assert list(out["first_num_frames"]) == [1, 3, 2, 4] and list(out["second_num_frames"]) == [3, 1, 4, 2]
    assert out["first_num_frames"].dtype == b["first_num_frames"].dtype
    assert list(out["error"]) == [None] * 4
