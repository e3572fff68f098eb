"""The samplers of FAST-VQA / FasterVQA / DOVER, written from their definitions
(VQAssessment/FAST-VQA-and-FasterVQA fastvqa/datasets/basic_datasets.py, VQAssessment/DOVER
dover/datasets/dover_datasets.py):

- `clip_indices`: SampleFrames in test mode: `num_clips` clips of `clip_len` frames,
  `interval` apart, clip k starting at int(k * a + a / 2), a = (n - clip_len * interval + 1) / num_clips.
- `segment_indices`: FragmentSampleFrames / UnifiedFrameSampler: the video cut into
  `segments` equal parts, `per_segment` frames `interval` apart from a random offset in each.
- `fragments`: grid mini-patch sampling: a `grid x grid` grid over the frame, one `fsize x fsize`
  patch per cell at a random offset inside the cell, the same offsets for `aligned` frames in a
  row; a frame smaller than grid * fsize is first upscaled (bilinear) to cover it.
- `resized`: the aesthetic view, every frame resized to size x size (bilinear, antialiased).

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


def clip_indices(n: int, clip_len: int, interval: int, num_clips: int) -> np.ndarray:
    span = clip_len * interval
    if n > span - 1:
        avg = (n - span + 1) / float(num_clips)
        offsets = (np.arange(num_clips) * avg + avg / 2.0).astype(np.int64)
    else:
        offsets = np.zeros(num_clips, np.int64)
    return (offsets[:, None] + np.arange(clip_len)[None] * interval).reshape(-1) % n


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
    """(H, W, 3) uint8, upscaled (bilinear) so that its short side is at least `size`."""
    h, w = frame.shape[:2]
    ratio = min(h / size, w / size)
    if ratio >= 1:
        return frame
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(max(size, round(h / ratio)), max(size, round(w / ratio))), mode="bilinear",
                      align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def decode(uri: str, indices: np.ndarray):
    """Yield (frame index, (H, W, 3) uint8) once per distinct index, in increasing order."""
    with open_reader(uri) as reader:
        yield from reader.frames(np.unique(indices))


def num_frames(uri: str) -> int:
    with open_reader(uri) as reader:
        return reader.num_frames


def fragments(uri: str, indices: np.ndarray, grid: int, fsize: int, aligned: int,
              rng: np.random.Generator) -> np.ndarray:
    """(len(indices), grid*fsize, grid*fsize, 3) uint8: the fragments of the frames at `indices`
    (position t uses the patch offsets of group t // aligned). Streams: one frame in memory."""
    side = grid * fsize
    out = np.zeros((len(indices), side, side, 3), np.uint8)
    offsets = None
    for idx, frame in decode(uri, indices):
        frame = upscale_to_cover(frame, side)
        if offsets is None:
            offsets = fragment_offsets(frame.shape[0], frame.shape[1], grid, fsize,
                                       -(-len(indices) // aligned), rng)
        for t in np.flatnonzero(indices == idx):
            g = t // aligned
            for i in range(grid):
                for j in range(grid):
                    y, x = offsets[0][i, j, g], offsets[1][i, j, g]
                    out[t, i * fsize:(i + 1) * fsize, j * fsize:(j + 1) * fsize] = frame[y:y + fsize, x:x + fsize]
    return out


def resized(uri: str, indices: np.ndarray, size: int) -> np.ndarray:
    """(len(indices), size, size, 3) uint8: the frames at `indices`, resized."""
    out = np.zeros((len(indices), size, size, 3), np.uint8)
    for idx, frame in decode(uri, indices):
        small = resize_frame(frame, size)
        out[indices == idx] = small
    return out


def normalise(clips: np.ndarray) -> torch.Tensor:
    """(..., T, H, W, 3) uint8 -> (..., 3, T, H, W) float, ImageNet mean/std on 0..255."""
    x = (torch.from_numpy(np.ascontiguousarray(clips)).float() - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
    return x.movedim(-1, -4)
