"""Both orders of a pair in one training step (`train.mirror_pairs`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from w2s.conversation import mirror_label
from w2s.student.examples import SIDES


def canonical_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per unordered pair: a row whose swapped twin is also present is kept once (the
    first seen), so that showing every row in both orders does not show a pair four times."""
    lo = pairs[["first_uri", "second_uri"]].min(axis=1)
    hi = pairs[["first_uri", "second_uri"]].max(axis=1)
    return pairs[~pd.DataFrame({"lo": lo, "hi": hi}).duplicated()].reset_index(drop=True)


def with_mirrors(batch: dict) -> dict:
    """A batch of featurized rows (numpy columns) -> twice the rows: each row followed by its
    swapped copy (first_* <-> second_*, mirrored label), so both orders meet in one step."""
    n = len(batch["label"])
    swap = {}
    for key in batch:
        for a, b in (SIDES, SIDES[::-1]):
            if key.startswith(a + "_"):
                swap[key] = b + key[len(a):]
    out = {}
    for key, col in batch.items():
        col = np.asarray(col)
        if key == "label":
            twin = np.array([mirror_label(str(x)) for x in col], dtype=object)
        elif key in swap:
            twin = np.asarray(batch[swap[key]])
        else:
            twin = col
        both = np.empty((2 * n, *col.shape[1:]), dtype=np.result_type(col, twin) if col.dtype != object else object)
        both[0::2], both[1::2] = col, twin
        out[key] = both
    return out
