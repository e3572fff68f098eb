"""The samplers of FAST-VQA / FasterVQA / DOVER, written from their definitions
(VQAssessment/FAST-VQA-and-FasterVQA fastvqa/datasets/basic_datasets.py, VQAssessment/DOVER
dover/datasets/dover_datasets.py):

- `segment_indices`: FragmentSampleFrames / UnifiedFrameSampler (what the official evaluation
  datasets use for every branch): the video cut into `segments` equal parts, `per_segment` frames
  `interval` apart from a random offset inside each part, indices modulo the frame count.
- `FragmentView`: grid mini-patch sampling: a `grid x grid` grid over the frame, one `fsize x fsize`
  patch per cell at a random offset inside the cell, the same offsets for `aligned` frames in a
  row; a frame smaller than grid * fsize is first upscaled (bilinear) to cover it.
- `ResizedView`: the aesthetic view, every frame resized to size x size (bilinear).

The official code draws the random offsets from the global RNG at test time as well; here a
seeded generator draws them, so a video's score is reproducible. Decision: the grid of an
upscaled frame is laid on the upscaled frame (the official code keeps the pre-upscale size for
the grid, so its fragments of a small video cluster in the top-left corner).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from w2s.video import open_reader

MEAN = np.array([123.675, 116.28, 103.53], np.float32)  # ImageNet, on 0..255
STD = np.array([58.395, 57.12, 57.375], np.float32)


def segment_indices(n: int, per_segment: int, segments: int, interval: int, num_clips: int,
                    rng: np.random.Generator) -> np.ndarray:
    out = []
    for _ in range(num_clips):
        grid = np.array([n // segments * i for i in range(segments)], np.int64)
        length = n // segments
        span = per_segment * interval
        rnd = rng.integers(0, length - span, size=segments) if length > span else np.zeros(segments, np.int64)
        out.append((np.arange(per_segment)[None] * interval + rnd[:, None] + grid[:, None]).reshape(-1))
    return np.concatenate(out) % n


def fragment_offsets(h: int, w: int, grid: int, fsize: int, groups: int, rng: np.random.Generator):
    """(grid, grid, groups) top-left corners (y, x) of every patch, per group of aligned frames."""
    ys = np.array([min(h // grid * i, h - fsize) for i in range(grid)])
    xs = np.array([min(w // grid * j, w - fsize) for j in range(grid)])
    cell_h, cell_w = h // grid, w // grid
    dy = rng.integers(cell_h - fsize, size=(grid, grid, groups)) if cell_h > fsize else np.zeros((grid, grid, groups), int)
    dx = rng.integers(cell_w - fsize, size=(grid, grid, groups)) if cell_w > fsize else np.zeros((grid, grid, groups), int)
    return ys[:, None, None] + dy, xs[None, :, None] + dx


def upscale_to_cover(frame: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 upscaled so that its short side reaches `size`, as the official code does:
    bilinear by the scale factor 1 / ratio (the short side can land one pixel short), values
    truncated back to uint8."""
    h, w = frame.shape[:2]
    ratio = min(h / size, w / size)
    if ratio >= 1:
        return frame
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0
    x = F.interpolate(x, scale_factor=1 / ratio, mode="bilinear")
    return (x[0].permute(1, 2, 0) * 255.0).clamp(0, 255).to(torch.uint8).numpy()


def resize_frame(frame: np.ndarray, size: int, antialias: bool = False) -> np.ndarray:
    """size x size, bilinear. DOVER's aesthetic view: torchvision Resize on tensors as the official
    stack (torch 1.13 / torchvision < 0.17) ran it, without antialiasing; `antialias=True` matches
    PIL's bilinear resize (MinimalisticVQA's motion frames)."""
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


class FragmentView:
    """Grid mini-patch fragments of the frames at `indices`: (len(indices), grid*fsize,
    grid*fsize, 3) uint8; position t uses the patch offsets of group t // aligned."""

    def __init__(self, indices: np.ndarray, grid: int, fsize: int, aligned: int, rng: np.random.Generator):
        self.indices, self.grid, self.fsize, self.aligned, self.rng = np.asarray(indices), grid, fsize, aligned, rng
        side = grid * fsize
        self.out = np.zeros((len(self.indices), side, side, 3), np.uint8)
        self.offsets = None

    def add(self, idx: int, frame: np.ndarray) -> None:
        g, f = self.grid, self.fsize
        frame = upscale_to_cover(frame, g * f)
        if self.offsets is None:
            groups = -(-len(self.indices) // self.aligned)
            self.offsets = fragment_offsets(frame.shape[0], frame.shape[1], g, f, groups, self.rng)
        ys, xs = self.offsets
        for t in np.flatnonzero(self.indices == idx):
            k = t // self.aligned
            for i in range(g):
                for j in range(g):
                    y, x = ys[i, j, k], xs[i, j, k]
                    self.out[t, i * f:(i + 1) * f, j * f:(j + 1) * f] = frame[y:y + f, x:x + f]


class ResizedView:
    """The frames at `indices` resized to size x size: (len(indices), size, size, 3) uint8."""

    def __init__(self, indices: np.ndarray, size: int, antialias: bool = False):
        self.indices, self.size, self.antialias = np.asarray(indices), size, antialias
        self.out = np.zeros((len(self.indices), size, size, 3), np.uint8)

    def add(self, idx: int, frame: np.ndarray) -> None:
        self.out[self.indices == idx] = resize_frame(frame, self.size, self.antialias)


def sample_views(uri: str, make_views) -> list[np.ndarray]:
    """`make_views(num_frames, fps)` -> views; decode the union of their frames once, streaming (one
    full frame in memory at a time), and return each view's array."""
    with open_reader(uri) as reader:
        views = make_views(reader.num_frames, reader.info.fps)
        wanted = np.unique(np.concatenate([v.indices for v in views]))
        for idx, frame in reader.frames(wanted):
            for v in views:
                if idx in v.indices:
                    v.add(idx, frame)
    return [v.out for v in views]


def normalise(clips: np.ndarray) -> torch.Tensor:
    """(..., T, H, W, 3) uint8 -> (..., 3, T, H, W) float, ImageNet mean/std on 0..255."""
    x = (torch.from_numpy(np.ascontiguousarray(clips)).float() - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
    return x.movedim(-1, -4)
