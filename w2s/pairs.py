"""Pair labels from weak teachers (METHOD.md section 2) and the LLaVA conversation export."""

from __future__ import annotations

import numpy as np
import pandas as pd

from w2s.conversation import QUESTION, SYSTEM, answer

# kind: ensemble | spatial | temporal | compression | gmad; source: the clip a synthetic pair's
# renders come from ("" otherwise)
PAIR_COLUMNS = ["first_uri", "second_uri", "label", "kind", "family", "levels", "stage", "source"]


def normalise_teachers(scores: pd.DataFrame) -> pd.DataFrame:
    """Put teachers on one scale: each teacher's scores are z-scored over the videos
    (columns = teachers, higher = better). Teachers with zero spread are dropped."""
    std = scores.std(ddof=0)
    keep = std[std > 0].index
    return (scores[keep] - scores[keep].mean()) / std[keep]


def ensemble_stats(z: pd.DataFrame) -> pd.DataFrame:
    """Per video: mean and variance (ddof=0) over teachers."""
    return pd.DataFrame({"mu": z.mean(axis=1), "var": z.var(axis=1, ddof=0)}, index=z.index)


def ensemble_label(mu_a: np.ndarray, var_a: np.ndarray, mu_b: np.ndarray, var_b: np.ndarray) -> np.ndarray:
    """Label of B (second) relative to A (first): d = mu_B - mu_A, s = sqrt(var_A + var_B);
    superior d > 2s, better s < d <= 2s, similar -s < d <= s, worse -2s < d <= -s,
    inferior d <= -2s. With s = 0 only the sign of d decides (0 -> similar)."""
    d = np.asarray(mu_b, float) - np.asarray(mu_a, float)
    s = np.sqrt(np.asarray(var_a, float) + np.asarray(var_b, float))
    out = np.select([d > 2 * s, d > s, d > -s, d > -2 * s], ["superior", "better", "similar", "worse"],
                    "inferior").astype(object)
    zero = s == 0
    out[zero] = np.where(d[zero] > 0, "superior", np.where(d[zero] < 0, "inferior", "similar"))
    return out


def pick_sources(candidates, exclude: set, n: int, seed) -> list[str]:
    """`n` of the `candidates` not in `exclude`, drawn with a seeded generator (sorted; fewer when
    there are not enough): held-out and fresh synthetic sources."""
    pool = sorted(set(candidates) - set(exclude))
    n = min(n, len(pool))
    return sorted(np.random.default_rng(seed).choice(pool, size=n, replace=False).tolist()) if n else []


def sample_pairs(n_videos: int, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """`n_pairs` distinct unordered pairs (as random ordered (first, second)) of n videos."""
    total = n_videos * (n_videos - 1) // 2
    n_pairs = min(n_pairs, total)
    flat = rng.choice(total, size=n_pairs, replace=False)
    # unrank flat index -> (i, j), i < j
    i = (n_videos - 2 - np.floor(np.sqrt(-8 * flat + 4 * n_videos * (n_videos - 1) - 7) / 2 - 0.5)).astype(int)
    j = (flat + i + 1 - n_videos * (n_videos - 1) // 2 + (n_videos - i) * ((n_videos - i) - 1) // 2).astype(int)
    swap = rng.random(n_pairs) < 0.5
    return np.stack([np.where(swap, j, i), np.where(swap, i, j)], axis=1)


def ensemble_pairs(stats: pd.DataFrame, n_pairs: int, seed: int = 0, stage: int = 1) -> pd.DataFrame:
    """Pairs drawn from the videos of `stats` (index = uri; columns mu, var), labelled."""
    rng = np.random.default_rng(seed)
    if len(stats) < 2 or n_pairs == 0:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    idx = sample_pairs(len(stats), n_pairs, rng)
    a, b = stats.iloc[idx[:, 0]], stats.iloc[idx[:, 1]]
    labels = ensemble_label(a["mu"].to_numpy(), a["var"].to_numpy(), b["mu"].to_numpy(), b["var"].to_numpy())
    return pd.DataFrame({"first_uri": a.index.to_numpy(), "second_uri": b.index.to_numpy(), "label": labels,
                         "kind": "ensemble", "family": "ensemble", "levels": "", "stage": stage, "source": ""})


def severity_label(first_level: int, second_level: int) -> str:
    """Synthetic pairs of one source: |i-j| > 1 superior/inferior, = 1 better/worse; the less
    distorted second video is better. Never similar (i != j)."""
    if first_level == second_level:
        raise ValueError("synthetic pairs need two different levels")
    gap = first_level - second_level  # > 0: second is less distorted -> better
    if abs(gap) > 1:
        return "superior" if gap > 0 else "inferior"
    return "better" if gap > 0 else "worse"


def synthetic_pairs(rendered: pd.DataFrame, stage: int = 1) -> pd.DataFrame:
    """All ordered level pairs per (source, family) from rows uri, source, family, group, level."""
    rows = []
    for (source, family), g in rendered.sort_values("level").groupby(["source", "family"], sort=True):
        group = g["group"].iloc[0]
        items = list(zip(g["uri"], g["level"], strict=True))
        for ua, la in items:
            for ub, lb in items:
                if la != lb:
                    rows.append((ua, ub, severity_label(int(la), int(lb)), group, family, f"{la}-{lb}", stage,
                                 source))
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def to_conversations(pairs: pd.DataFrame) -> list[dict]:
    """The LLaVA training format: one record per pair, two videos, prompt and answer."""
    return [{
        "id": f"pair-{k:07d}",
        "videos": [r.first_uri, r.second_uri],
        "kind": r.kind,
        "conversations": [
            {"from": "system", "value": SYSTEM},
            {"from": "human", "value": QUESTION},
            {"from": "gpt", "value": answer(r.label)},
        ],
    } for k, r in enumerate(pairs.itertuples(index=False))]
