"""Temporal distortions: camera jitter and stutter (frame repeats)."""

from __future__ import annotations

import numpy as np
from PIL import Image

JITTER = (0.01, 0.02, 0.04)  # max shift as a fraction of the frame width
STUTTER = (0.1, 0.2, 0.4)  # probability a frame is replaced by the previous one


def jitter(frame: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Shift the frame by a random (dx, dy) in [-m, m] px (m = amount * width), inside a crop
    of margin m on each side, then resize the crop back to the full frame (bilinear)."""
    h, w = frame.shape[:2]
    m = max(1, int(round(amount * w)))
    m = min(m, (w - 1) // 2, (h - 1) // 2)
    if m < 1:
        return frame
    dx, dy = rng.integers(-m, m + 1, size=2)
    crop = frame[m + dy : h - m + dy, m + dx : w - m + dx]
    return np.asarray(Image.fromarray(crop).resize((w, h), Image.BILINEAR))


class Stutter:
    """Each frame is replaced by the previously shown frame with probability p (repeats chain)."""

    def __init__(self, p: float, rng: np.random.Generator):
        self.p, self.rng, self.prev = p, rng, None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.prev is not None and self.rng.random() < self.p:
            return self.prev
        self.prev = frame
        return frame
