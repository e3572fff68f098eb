"""Frame-difference metrics on the consecutive-frame pair at each sampled second."""

from __future__ import annotations

import numpy as np

MACROBLOCK = 16
FLICKER_THRESHOLD = 3.0  # mean |difference| (grey levels) above which a macroblock is "updated"


def temporal_information(y0: np.ndarray, y1: np.ndarray) -> float:
    """ITU-T P.910 TI of one pair: spatial std of luma(t) - luma(t-1)."""
    return float((y1 - y0).std())


def updated_blocks(y0: np.ndarray, y1: np.ndarray, block: int = MACROBLOCK,
                   threshold: float = FLICKER_THRESHOLD) -> np.ndarray:
    """Boolean map of 16x16 macroblocks whose mean |y1 - y0| exceeds `threshold`.
    Frames smaller than a macroblock count as one block."""
    d = np.abs(y1 - y0)
    h, w = d.shape
    bh, bw = max(1, h // block), max(1, w // block)
    sh, sw = (block, block) if h >= block and w >= block else (h, w)
    if h >= block and w >= block:
        d = d[: bh * block, : bw * block]
        means = d.reshape(bh, sh, bw, sw).mean(axis=(1, 3))
    else:
        means = np.array([[d.mean()]])
    return means > threshold


def flicker(update_maps: list[np.ndarray]) -> float:
    """Mean, over successive sampled seconds, of the fraction of macroblocks that go from
    not updated (at second k-1) to updated (at second k). 0 with fewer than 2 samples."""
    if len(update_maps) < 2:
        return 0.0
    rates = [np.mean(~a & b) for a, b in zip(update_maps[:-1], update_maps[1:], strict=True)]
    return float(np.mean(rates))
