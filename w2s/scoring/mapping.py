"""Maximum-a-posteriori scores from a comparison matrix (METHOD.md section 4, paper Eq. 35).

    q* = argmax_q  sum_{i,j} M[i,j] log F(q_i - q_j)  -  sum_i q_i^2 / 2

with F = Phi (Thurstone Case V, the paper) or the logistic function (`link="logistic"`,
what the authors' code runs). The objective is strictly concave (log F is concave, the
N(0, 1) prior is strictly so), so Newton's method from q = 0 with a backtracking line
search finds the unique maximiser: deterministic, and batched over any number of matrices
at once (one (B, n, n) solve per iteration, no loop over matrices).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit, log_ndtr

LINKS = ("phi", "logistic")
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def _log_link(x: np.ndarray, link: str) -> np.ndarray:
    return log_ndtr(x) if link == "phi" else log_expit(x)


def _derivatives(x: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of log F at x (the second is < 0 everywhere)."""
    if link == "phi":
        r = np.exp(-0.5 * x * x - _LOG_SQRT_2PI - log_ndtr(x))  # phi / Phi, stable for x << 0
        return r, -r * (x + r)
    s = expit(x)
    return 1.0 - s, -s * (1.0 - s)


def objective(q: np.ndarray, m: np.ndarray, link: str = "phi") -> np.ndarray:
    """The log posterior (up to a constant) of scores q (..., n) under matrices m (..., n, n)."""
    d = q[..., :, None] - q[..., None, :]
    return (m * _log_link(d, link)).sum(axis=(-2, -1)) - 0.5 * (q * q).sum(-1)


def _gradient_hessian(q: np.ndarray, m: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    d = q[:, :, None] - q[:, None, :]
    r, r2 = _derivatives(d, link)
    a = m * r                               # d/dq_i of M_ij log F(q_i - q_j) is +a_ij, d/dq_j is -a_ij
    g = a.sum(-1) - a.sum(-2) - q
    w = m * r2                              # <= 0
    s = w + np.swapaxes(w, -1, -2)
    np.einsum("bii->bi", s)[...] = 0.0      # i = j terms vanish (e_i - e_i = 0)
    h = -s
    np.einsum("bii->bi", h)[...] = s.sum(-1) - 1.0
    return g, h


def _check(m: np.ndarray, link: str) -> tuple[np.ndarray, bool]:
    if link not in LINKS:
        raise ValueError(f"link must be one of {LINKS}, got {link!r}")
    m = np.asarray(m, dtype=np.float64)
    single = m.ndim == 2
    if single:
        m = m[None]
    if m.ndim != 3 or m.shape[1] != m.shape[2] or m.shape[1] < 2:
        raise ValueError(f"expected comparison matrices of shape (B, n, n) or (n, n) with n >= 2, got {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("comparison matrix holds NaN or inf")
    if (m < 0).any() or (m > 1).any():
        raise ValueError("comparison matrix entries must lie in [0, 1]")
    return m, single


def solve(m: np.ndarray, link: str = "phi", tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """The MAP scores q (B, n) (unscaled) of matrices m (B, n, n). Raises if Newton does not
    reach |gradient| < tol in max_iter iterations (it takes ~5-10 on comparison matrices)."""
    m, single = _check(m, link)
    q = np.zeros(m.shape[:2])
    active = np.arange(len(m))
    for _ in range(max_iter):
        g, h = _gradient_hessian(q[active], m[active], link)
        done = np.abs(g).max(-1) < tol
        active, g, h = active[~done], g[~done], h[~done]
        if not len(active):
            return q[0] if single else q
        step = np.linalg.solve(h, g[..., None])[..., 0]          # Newton: q - H^-1 g (H neg. definite)
        f0 = objective(q[active], m[active], link)
        slope = -(g * step).sum(-1)                               # directional derivative (> 0)
        t = np.ones(len(active))
        for _ in range(30):                                       # backtracking (Armijo)
            f1 = objective(q[active] - t[:, None] * step, m[active], link)
            bad = f1 < f0 + 1e-4 * t * slope - 1e-12 * np.abs(f0)
            if not bad.any():
                break
            t = np.where(bad, t / 2, t)
        q[active] -= t[:, None] * step
    raise RuntimeError(f"MAP did not converge in {max_iter} Newton iterations for {len(active)} matrices")


def scale_0_100(q: np.ndarray) -> np.ndarray:
    """Min-max scale each row to 0..100; a row with no spread (all videos equal) gets 50."""
    lo, hi = q.min(-1, keepdims=True), q.max(-1, keepdims=True)
    span = hi - lo
    flat = span < 1e-9
    return np.where(flat, 50.0, 100.0 * (q - lo) / np.where(flat, 1.0, span))


def map_scores(m: np.ndarray, link: str = "phi", tol: float = 1e-10) -> np.ndarray:
    """MAP scores of comparison matrices, min-max scaled to 0..100 per matrix.

    m: (B, n, n) or (n, n) floats in [0, 1], m[i, j] = how much video i beats video j
    (m[i, j] + m[j, i] = 1 for a full comparison, 0.5 on the diagonal). Returns (B, n) or (n,).
    """
    q = solve(m, link, tol)
    return scale_0_100(q)
