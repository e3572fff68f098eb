"""Distribution-matched subset selection (Vonikakis et al. 2017; METHOD.md section 1).

Each metric is min-max scaled over the candidates and cut into H bins; the
target histogram p[m, h] comes from a reference set. With x_i in [0, 1] per
candidate and slacks s[m, h] >= 0:

    minimise sum s   s.t.   sum_i x_i = N,   |sum_i B[m,h,i] x_i - p[m,h] N| <= s[m,h]

Scaling: candidates that fall in the same bin for every metric (the same
"bin signature") are interchangeable in this program, so it is solved over
signatures instead, with y_c in [0, count_c] (integer for `milp`): exactly the
same optimum, but the problem size is the number of distinct signatures, not
the number of videos (1.5M videos -> a few 10^5 cells at most). The N largest
x are then taken: from each cell, round(y_c) members at random (seeded),
topped up from the largest fractional parts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse


@dataclass
class Selection:
    indices: np.ndarray  # chosen candidate rows
    tv: float  # mean over metrics of the total-variation distance to the target
    tv_per_metric: np.ndarray
    cells: int
    solve_s: float
    status: str


def bin_codes(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int) -> np.ndarray:
    """Bin index (0..bins-1) of each value per metric after min-max scaling with lo/hi."""
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (values - lo) / span
    return np.clip((scaled * bins).astype(np.int64), 0, bins - 1)


def histograms(codes: np.ndarray, bins: int) -> np.ndarray:
    """(M, H) fraction of rows in each bin of each metric."""
    m = codes.shape[1]
    out = np.zeros((m, bins))
    for j in range(m):
        out[j] = np.bincount(codes[:, j], minlength=bins) / max(1, len(codes))
    return out


def tv_distance(hist: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Total-variation distance per metric: 0.5 * sum_h |hist - target|."""
    return 0.5 * np.abs(hist - target).sum(axis=1)


def select(candidates: np.ndarray, reference: np.ndarray, n: int, bins: int = 7,
           method: str = "lp", seed: int = 0, time_limit: float = 600.0) -> Selection:
    """Choose `n` rows of `candidates` (V x M metric values) whose per-metric histograms
    match those of `reference` (R x M)."""
    cand = np.asarray(candidates, float)
    ref = np.asarray(reference, float)
    if cand.ndim != 2 or ref.ndim != 2 or cand.shape[1] != ref.shape[1]:
        raise ValueError("candidates and reference must be 2-D with the same metric columns")
    if not 0 < n <= len(cand):
        raise ValueError(f"cannot select {n} of {len(cand)} candidates")
    if not (np.isfinite(cand).all() and np.isfinite(ref).all()):
        raise ValueError("metric values must be finite (drop failed videos first)")
    lo, hi = cand.min(axis=0), cand.max(axis=0)
    codes = bin_codes(cand, lo, hi, bins)
    target = histograms(bin_codes(ref, lo, hi, bins), bins)
    m = cand.shape[1]

    # aggregate interchangeable candidates by their bin signature
    cells, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    c = len(cells)
    rows = (np.arange(m)[None, :] * bins + cells).ravel()  # (cell, metric) -> row m*H + h
    cols = np.repeat(np.arange(c), m)
    b = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m * bins, c))
    eye = sparse.identity(m * bins, format="csr")
    a_ub = sparse.vstack([sparse.hstack([b, -eye]), sparse.hstack([-b, -eye])], format="csr")
    pn = target.ravel() * n
    b_ub = np.concatenate([pn, -pn])
    a_eq = sparse.hstack([sparse.csr_matrix(np.ones((1, c))), sparse.csr_matrix((1, m * bins))])
    cost = np.concatenate([np.zeros(c), np.ones(m * bins)])
    upper = np.concatenate([counts.astype(float), np.full(m * bins, np.inf)])
    t0 = time.perf_counter()
    if method == "milp":
        res = optimize.milp(
            cost, integrality=np.concatenate([np.ones(c), np.zeros(m * bins)]),
            bounds=optimize.Bounds(np.zeros(c + m * bins), upper),
            constraints=[optimize.LinearConstraint(a_ub, -np.inf, b_ub),
                         optimize.LinearConstraint(a_eq, n, n)],
            options={"time_limit": time_limit})
        y, status = res.x, res.message
    elif method == "lp":
        res = optimize.linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[n],
                               bounds=np.stack([np.zeros(c + m * bins), upper], axis=1),
                               method="highs", options={"time_limit": time_limit})
        y, status = res.x, res.message
    else:
        raise ValueError(f"method must be lp or milp, got {method!r}")
    solve_s = time.perf_counter() - t0
    if y is None:
        raise RuntimeError(f"subset selection failed: {status}")
    chosen = _pick(y[:c], counts, inverse, n, np.random.default_rng(seed))
    tv = tv_distance(histograms(codes[chosen], bins), target)
    return Selection(np.sort(chosen), float(tv.mean()), tv, c, solve_s, str(status))


def _pick(y: np.ndarray, counts: np.ndarray, inverse: np.ndarray, n: int, rng) -> np.ndarray:
    """Take round-down(y_c) random members of each cell, then fill up to n from the cells
    with the largest leftover fractions (the N largest x of the per-video program)."""
    y = np.clip(y, 0, counts)
    take = np.floor(y + 1e-9).astype(np.int64)
    short = n - take.sum()
    if short > 0:
        frac = np.where(take < counts, y - take, -1.0)
        for cidx in np.argsort(-frac, kind="stable")[:short]:
            take[cidx] += 1
    members = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = []
    for cidx in np.flatnonzero(take):
        group = members[starts[cidx] : starts[cidx] + counts[cidx]]
        out.append(rng.choice(group, size=take[cidx], replace=False))
    chosen = np.concatenate(out) if out else np.array([], dtype=np.int64)
    return chosen[:n]


def random_subset_tv(candidates: np.ndarray, reference: np.ndarray, n: int, bins: int = 7,
                     seed: int = 0, trials: int = 20) -> float:
    """Mean TV distance of uniformly random subsets of size n (the baseline)."""
    cand, ref = np.asarray(candidates, float), np.asarray(reference, float)
    lo, hi = cand.min(axis=0), cand.max(axis=0)
    codes = bin_codes(cand, lo, hi, bins)
    target = histograms(bin_codes(ref, lo, hi, bins), bins)
    rng = np.random.default_rng(seed)
    tvs = [tv_distance(histograms(codes[rng.choice(len(cand), n, replace=False)], bins), target).mean()
           for _ in range(trials)]
    return float(np.mean(tvs))


def plot_histograms(path: str, candidates, reference, chosen, names, bins: int = 7, seed: int = 0):
    """PNG (local path or URI): per metric, the target histogram vs a random subset vs the selected subset."""
    from w2s.figures import pyplot, save_png

    plt = pyplot()
    cand, ref = np.asarray(candidates, float), np.asarray(reference, float)
    lo, hi = cand.min(axis=0), cand.max(axis=0)
    codes = bin_codes(cand, lo, hi, bins)
    target = histograms(bin_codes(ref, lo, hi, bins), bins)
    rnd = np.random.default_rng(seed).choice(len(cand), len(chosen), replace=False)
    h_rand, h_sel = histograms(codes[rnd], bins), histograms(codes[chosen], bins)
    cols = 3
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    x = np.arange(bins)
    for j, name in enumerate(names):
        ax = axes[j // cols][j % cols]
        ax.bar(x - 0.27, target[j], 0.27, label="target (reference)", color="#444")
        ax.bar(x, h_rand[j], 0.27, label=f"random (TV {tv_distance(h_rand, target)[j]:.2f})", color="#e39")
        ax.bar(x + 0.27, h_sel[j], 0.27, label=f"selected (TV {tv_distance(h_sel, target)[j]:.2f})",
               color="#39e")
        ax.set_title(name)
        ax.set_xticks(x)
        ax.legend(fontsize=6)
    for j in range(len(names), rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle(f"subset of {len(chosen)} vs target: metric histograms ({bins} bins)")
    fig.tight_layout()
    return save_png(fig, path)
