"""The demo's proxy benchmark: held-out pool clips distorted at known levels.

The sample pool has no human ratings, so the demo evaluates on the renders of the
held-out sources (pairs/heldout: never trained on). The "MOS" of a render is its
level order inside its distortion family: 1 + (the family's top level - level), so
level 1 (mildest) gets the highest value. It measures whether a model orders known
distortions, not agreement with people; the evaluation output says so.
"""

from __future__ import annotations

import pandas as pd

NOTE = ("proxy benchmark: held-out clips distorted at known levels; its MOS is the level order, "
        "not a human rating")


def proxy_from_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """uri, mos, group (the family), source, level of every rendered video of the held-out pairs."""
    if pairs.empty:
        return pd.DataFrame(columns=["uri", "mos", "group", "source", "level"])
    lv = pairs["levels"].astype(str).str.split("-", expand=True).astype(int)
    sides = [pd.DataFrame({"uri": pairs[f"{side}_uri"], "level": lv[i], "group": pairs["family"],
                           "source": pairs["source"]}) for i, side in enumerate(("first", "second"))]
    rows = pd.concat(sides, ignore_index=True).drop_duplicates("uri").sort_values(["group", "source", "level"])
    top = rows.groupby("group")["level"].transform("max")
    return rows.assign(mos=(top + 1 - rows["level"]).astype(float))[["uri", "mos", "group", "source", "level"]]
