"""Training augmentation shared by the two videos of a pair.

A pair's label says which video is better; it does not change when both videos get the
same crop and flip, while the pixels the student sees change every epoch, so it cannot
learn a pair from its content. One random crop (a square of `scale` of the side, anywhere)
and one horizontal flip per pair, applied to every key frame of both videos; the image
processor then resizes the crop back to the vision tower's input. Sharpness-type
distortions (blur, noise, compression) survive a mild crop; brightness ones are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairCrop:
    y: int
    x: int
    side: int
    flip: bool

    def apply(self, frames: np.ndarray) -> np.ndarray:
        """(F, H, W, 3) -> (F, side, side, 3), flipped left-right when `flip`."""
        out = frames[:, self.y: self.y + self.side, self.x: self.x + self.side]
        return np.ascontiguousarray(out[:, :, ::-1] if self.flip else out)


def draw(rng: np.random.Generator, size: int, scale: tuple[float, float] = (0.7, 1.0)) -> PairCrop:
    """A random square crop of a size x size frame (side = scale x size) and a coin-flip mirror."""
    side = max(1, min(size, int(round(size * rng.uniform(*scale)))))
    y, x = (int(v) for v in rng.integers(0, size - side + 1, size=2))
    return PairCrop(y, x, side, bool(rng.random() < 0.5))
