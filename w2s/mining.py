"""Hard-pair mining for stages 2 and 3 (METHOD.md section 5), Ray-free.

gMAD, per weak model and in both directions:
- direction "weak_level": the videos are split into `levels` uniform levels of the weak
  model's score (equal-width intervals of its range); inside a level the weak model sees
  the videos as equal (their gap is below the level width), and the pairs whose student
  scores differ most are kept;
- direction "student_level": the same with the roles swapped (levels of the student's
  score, the largest weak-model gaps).
Inside a level the videos are sorted by the other model's score and the bottom block is
matched against the top block in `max_uses` shifted rounds, so every candidate is a
near-extreme pair and no video appears more than `max_uses` times per level and direction;
the `per_level` largest gaps are kept. Sorting makes it O(n log n) per weak model (a
1.5M-video pool runs on one machine), with no loop over videos or pairs.

Misclassified synthetic pairs: `misclassified` keeps the pairs whose predicted level (the
student's argmax) differs from the level-derived label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from w2s.conversation import LEVELS

DIRECTIONS = ("weak_level", "student_level")
GMAD_COLUMNS = ["first_uri", "second_uri", "weak_model", "direction", "level", "first_weak", "second_weak",
                "first_student", "second_student"]


def uniform_levels(score: np.ndarray, levels: int) -> tuple[np.ndarray, float]:
    """Level index (0..levels-1) of each score over equal-width intervals of its range, and
    the width of one level."""
    lo, hi = float(np.min(score)), float(np.max(score))
    width = (hi - lo) / levels
    if width == 0:
        return np.zeros(len(score), dtype=np.int64), 0.0
    return np.clip(((score - lo) / width).astype(np.int64), 0, levels - 1), width


def extreme_pairs(order: np.ndarray, per_level: int, max_uses: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate (low, high) index pairs of one level whose members are sorted ascending by
    the attacking score: the bottom t matched to the top t in `max_uses` shifted rounds."""
    n = len(order)
    t = min(n // 2, max(1, -(-per_level // max_uses)))
    if t == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    rounds = min(max_uses, t)
    i = np.tile(np.arange(t), rounds)
    r = np.repeat(np.arange(rounds), t)
    low = order[i]                       # the i-th lowest ...
    high = order[n - 1 - (i + r) % t]    # ... with the (i + r)-th highest: round 0 pairs the extremes
    return low, high


def level_pairs(members: np.ndarray, attacker: np.ndarray, per_level: int, max_uses: int):
    """The `per_level` largest-gap (low, high, gap) pairs of one level; `members` are indices into
    `attacker`, sorted by it ascending."""
    low, high = extreme_pairs(members, per_level, max_uses)
    gap = attacker[high] - attacker[low]
    keep = np.argsort(-gap, kind="stable")[:per_level]
    return low[keep], high[keep], gap[keep]


def gmad(uris: np.ndarray, defender: np.ndarray, attacker: np.ndarray, levels: int, per_level: int,
         max_uses: int = 1) -> pd.DataFrame:
    """One direction of gMAD: inside each level of `defender`, the pairs with the largest
    `attacker` gap. Returns index pairs (low, high) with their level and gap, largest first."""
    level, _ = uniform_levels(defender, levels)
    key = np.lexsort((attacker, level))              # by level, then attacker score ascending
    bounds = np.searchsorted(level[key], np.arange(levels + 1))
    parts = []
    for k in range(levels):
        low, high, gap = level_pairs(key[bounds[k]:bounds[k + 1]], attacker, per_level, max_uses)
        if len(low):
            parts.append(pd.DataFrame({"low": low, "high": high, "level": k, "gap": gap}))
    if not parts:
        return pd.DataFrame(columns=["low", "high", "level", "gap"])
    return pd.concat(parts, ignore_index=True)


def gmad_pairs(scores: pd.DataFrame, student: str, weak: list[str], levels: int = 5, per_level: int = 100,
               max_uses: int = 2, seed: int = 0, one_direction=None) -> pd.DataFrame:
    """gMAD pairs for every weak model in `weak` and both directions. `scores`: index = uri,
    one column per model (higher = better), rows with a missing score are left out per model.
    The order of each pair (which video is first) is random, so labels are balanced.
    `one_direction`: a function with `gmad`'s signature (e.g. the mining stage's, sharded by
    level on Ray Data for a large pool); default `gmad`."""
    one_direction = one_direction or gmad
    rng = np.random.default_rng(seed)
    out = []
    for w in weak:
        t = scores[[w, student]].dropna()
        uris, ws, ss = t.index.to_numpy(), t[w].to_numpy(float), t[student].to_numpy(float)
        for direction, defender, attacker in (("weak_level", ws, ss), ("student_level", ss, ws)):
            p = one_direction(uris, defender, attacker, levels, per_level, max_uses)
            if not len(p):
                continue
            swap = rng.random(len(p)) < 0.5
            a = np.where(swap, p["high"], p["low"]).astype(np.int64)
            b = np.where(swap, p["low"], p["high"]).astype(np.int64)
            out.append(pd.DataFrame({"first_uri": uris[a], "second_uri": uris[b], "weak_model": w,
                                     "direction": direction, "level": p["level"].to_numpy(),
                                     "first_weak": ws[a], "second_weak": ws[b],
                                     "first_student": ss[a], "second_student": ss[b]}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=GMAD_COLUMNS)


def predicted_levels(probs: np.ndarray) -> np.ndarray:
    """The student's predicted level (argmax of the five probabilities, LEVELS order)."""
    return np.asarray(LEVELS, dtype=object)[np.argmax(np.asarray(probs), axis=1)]


def label_with_student(pairs: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """gMAD pairs labelled by the promoted student (METHOD.md decision): `label` = its predicted
    level for the ordered pair, `student_probs` = the five probabilities (auditable)."""
    probs = _check_probs(pairs, probs)
    return pairs.assign(label=predicted_levels(probs), student_probs=list(probs))


def _check_probs(pairs: pd.DataFrame, probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (len(pairs), len(LEVELS)):
        raise ValueError(f"expected ({len(pairs)}, {len(LEVELS)}) probabilities, got {probs.shape}")
    return probs


def with_predictions(pairs: pd.DataFrame, probs: np.ndarray) -> pd.DataFrame:
    """The pairs with the student's `predicted` level and its five `student_probs` added."""
    probs = _check_probs(pairs, probs)
    return pairs.assign(predicted=predicted_levels(probs) if len(probs) else [], student_probs=list(probs))


def misclassified(pairs: pd.DataFrame, probs: np.ndarray | None = None) -> pd.DataFrame:
    """The pairs whose predicted level differs from their `label` (`predicted` and
    `student_probs` added from `probs`, or already there when `probs` is None)."""
    out = pairs if probs is None else with_predictions(pairs, probs)
    return out[out["predicted"] != out["label"]].reset_index(drop=True)
