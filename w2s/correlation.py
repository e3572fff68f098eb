"""Agreement between predictions and subjective scores: SRCC, KRCC, PLCC (raw and fitted)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, stats


def logistic4(x, b1, b2, b3, b4):
    """y = b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))  (VQEG 4-parameter logistic)."""
    return b2 + (b1 - b2) / (1.0 + np.exp(-(x - b3) / np.abs(b4)))


def fit_logistic(pred, mos) -> np.ndarray:
    """Least-squares fit of logistic4 mapping predictions to MOS, p0 = [max y, min y, mean x, 0.5]."""
    x, y = np.asarray(pred, float), np.asarray(mos, float)
    p0 = [y.max(), y.min(), x.mean(), 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params, _ = optimize.curve_fit(logistic4, x, y, p0=p0, maxfev=20000)
    return params


def correlations(pred, mos) -> dict:
    """SRCC, KRCC, PLCC on raw predictions, and PLCC after the 4-parameter logistic fit (the raw
    PLCC when there are 4 points or fewer, or the fit does not converge)."""
    x, y = np.asarray(pred, float), np.asarray(mos, float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError("need two 1-D arrays of the same length >= 3")
    out = {
        "srcc": float(stats.spearmanr(x, y).statistic),
        "krcc": float(stats.kendalltau(x, y).statistic),
        "plcc_raw": float(stats.pearsonr(x, y).statistic),
    }
    if len(x) <= 4:  # four parameters: no fit to speak of
        out["plcc"] = out["plcc_raw"]
        return out
    try:
        fitted = logistic4(x, *fit_logistic(x, y))
        out["plcc"] = float(stats.pearsonr(fitted, y).statistic)
    except (RuntimeError, ValueError, TypeError):
        out["plcc"] = out["plcc_raw"]  # fit did not converge: report the raw value
    return out
