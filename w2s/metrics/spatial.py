"""Per-frame low-level metrics on RGB uint8 frames (vectorised numpy / scipy)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BLOCK = 8  # coding-block grid for blockiness
BLOCKINESS_EPS = 1.0  # grey levels added to both means: flat frames give 1, not 0/0
IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma in [0, 255], float32."""
    rgb = rgb.astype(np.float32)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


def contrast(y: np.ndarray) -> float:
    """Standard deviation of the grey levels."""
    return float(y.std())


def luminance(y: np.ndarray) -> float:
    """Mean grey level."""
    return float(y.mean())


def blockiness(y: np.ndarray, block: int = BLOCK) -> float:
    """Mean |neighbour difference| across 8x8 block boundaries divided by the mean inside
    blocks (horizontal and vertical pairs together). ~1 for unblocked content, larger = more
    blocking (METHOD.md: external/internal, means rather than sums so pair counts cancel)."""
    dh = np.abs(np.diff(y, axis=1))
    dv = np.abs(np.diff(y, axis=0))
    cross_h = (np.arange(dh.shape[1]) + 1) % block == 0
    cross_v = (np.arange(dv.shape[0]) + 1) % block == 0
    ext_sum = dh[:, cross_h].sum() + dv[cross_v, :].sum()
    ext_n = dh[:, cross_h].size + dv[cross_v, :].size
    int_sum = dh[:, ~cross_h].sum() + dv[~cross_v, :].sum()
    int_n = dh[:, ~cross_h].size + dv[~cross_v, :].size
    if ext_n == 0 or int_n == 0:
        return 1.0
    return float((ext_sum / ext_n + BLOCKINESS_EPS) / (int_sum / int_n + BLOCKINESS_EPS))


def noise_sigma(y: np.ndarray) -> float:
    """Immerkaer (1996) fast noise standard deviation estimate, in grey levels."""
    h, w = y.shape
    if h < 3 or w < 3:
        return 0.0
    conv = ndimage.correlate(y.astype(np.float32), IMMERKAER, mode="reflect")[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2.0) * np.abs(conv).sum(dtype=np.float64) / (6.0 * (w - 2) * (h - 2)))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003): sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mu_rg^2 + mu_yb^2)."""
    rgb = rgb.astype(np.float32)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def spatial_information(y: np.ndarray) -> float:
    """ITU-T P.910 SI of one frame: spatial std of the Sobel gradient magnitude (inner pixels)."""
    if y.shape[0] < 3 or y.shape[1] < 3:
        return 0.0
    gx = ndimage.sobel(y, axis=1, mode="nearest")
    gy = ndimage.sobel(y, axis=0, mode="nearest")
    return float(np.hypot(gx, gy)[1:-1, 1:-1].std())
