"""Spatial distortions (KADID-10k style), frame by frame on float RGB in [0, 1]."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color

RESIZE = (2, 3, 4, 8, 16)  # down- then up-scale factor
BLUR = (0.1, 0.5, 1.0, 2.0, 5.0)  # Gaussian sigma, pixels
NOISE = (0.001, 0.002, 0.003, 0.005, 0.01)  # variance on [0, 1] RGB
DARKEN = (0.05, 0.1, 0.2, 0.4, 0.8)
BRIGHTEN = (0.1, 0.2, 0.4, 0.7, 1.1)


def resize(frame: np.ndarray, factor: float, rng=None) -> np.ndarray:
    """Bilinear down-scale by `factor`, then bilinear up-scale back to the original size."""
    h, w = frame.shape[:2]
    img = Image.fromarray(_to_u8(frame))
    small = img.resize((max(1, round(w / factor)), max(1, round(h / factor))), Image.BILINEAR)
    return np.asarray(small.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0


def blur(frame: np.ndarray, sigma: float, rng=None) -> np.ndarray:
    """Gaussian blur of each channel (kernel truncated at 3 sigma, edges replicated)."""
    return ndimage.gaussian_filter(frame, sigma=(sigma, sigma, 0), mode="nearest", truncate=3.0)


def noise(frame: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise of the given variance, clipped to [0, 1]."""
    n = rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(np.sqrt(variance))
    return np.clip(frame + n, 0.0, 1.0)


def darken(frame: np.ndarray, p: float, rng=None) -> np.ndarray:
    """Tone curve pulling RGB down: y = x ** (1 / (1 - p)) (p=0.8 -> gamma 5)."""
    return np.power(frame, 1.0 / (1.0 - p), dtype=np.float32)


def brighten(frame: np.ndarray, p: float, rng=None) -> np.ndarray:
    """Curve on CIE Lab lightness, L/100 -> 1 - (1 - L/100) ** (1 + p); chroma kept."""
    lab = color.rgb2lab(frame)
    lightness = np.clip(lab[..., 0] / 100.0, 0.0, 1.0)
    lab[..., 0] = 100.0 * (1.0 - np.power(1.0 - lightness, 1.0 + p))
    return np.clip(color.lab2rgb(lab), 0.0, 1.0).astype(np.float32)


def _to_u8(frame: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
