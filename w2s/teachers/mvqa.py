"""MinimalisticVQA (Sun et al.) models VII and IX as weak teachers, from
sunwei925/MinimalisticVQA (test_video.py, models/VQAModels.py):

| teacher             | checkpoint                          | input per video                                  |
|---------------------|-------------------------------------|--------------------------------------------------|
| minimalisticvqa-vii | MinimalisticVQA_Model_VII_LSVQ.pth  | key frames (middle frame of each second), 384^2  |
| minimalisticvqa-ix  | MinimalisticVQA_Model_IX_LSVQ.pth   | the same + SlowFast fast-pathway feature / second |

Key frames: the short side resized to `size` (bilinear), centre crop size x size, ImageNet
mean/std; `frames` of them (default 8, the LSVQ evaluation; null = every whole second, at
least 8, as test_video.py), the last repeated when the video is shorter. Model IX's motion
input, per second: the 32 frames around the middle of that second (all of it, padded with its
last frame, when it has fewer), resized to motion_size^2, through SlowFast-R50 (K400,
`slowfast_checkpoint` = SLOWFAST_8x8_R50.pyth; the same network as the student's motion
branch). Score: the mean of the per-frame regressions (an arbitrary affine scale: the training
loss ignores shift and scale); with `popt` (the released 4-parameter logistic, e.g.
LSVQ_Model_IX.npy) it is mapped to LSVQ MOS (~0..100).
"""

from __future__ import annotations

import numpy as np
import torch

from w2s import uri as uri_mod
from w2s.student.motion import chunk_to_pathways, load_slowfast
from w2s.teachers.base import Resources, ScoreScale, register_teacher
from w2s.teachers.model_base import ModelTeacher, positive_int
from w2s.teachers.sampling import ResizedView, normalise, sample_views, upscale_to_cover
from w2s.teachers.vqa_nets import MinimalisticVQANet

MIN_FRAMES = 8
CHUNK = 32


def key_frame_positions(n: int, fps: float, frames: int | None) -> np.ndarray:
    """The middle frame of each second (frame i with i % round(fps) == round(fps) // 2, the
    last partial second included), `frames` of them (None: one per whole second, at least 8),
    the last repeated to fill."""
    step = max(1, int(round(fps)))
    keys = np.arange(step // 2, n, step) if n > step // 2 else np.array([n // 2])  # a last partial second too
    want = frames if frames is not None else max(n // step, MIN_FRAMES)
    return np.concatenate([keys, np.repeat(keys[-1:], max(0, want - len(keys)))])[:want]


def chunk_positions(n: int, fps: float, second: int) -> np.ndarray:
    """The 32 frames of the 'mid' chunk of one second (padded with its last frame)."""
    step = max(1, int(round(fps)))
    start, stop = second * step, min(n, (second + 1) * step)
    idx = np.arange(start, max(stop, start + 1)).clip(0, n - 1)
    if len(idx) > CHUNK:
        mid = len(idx) // 2
        return idx[mid - CHUNK // 2: mid + CHUNK // 2]
    return np.concatenate([idx, np.repeat(idx[-1:], CHUNK - len(idx))])


class CropView(ResizedView):
    """Short side -> size, centre crop size x size (the spatial branch's test transform)."""

    def add(self, idx: int, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        s = self.size
        scaled = upscale_to_cover(frame, s) if min(h, w) < s else _short_side(frame, s)
        y, x = (scaled.shape[0] - s) // 2, (scaled.shape[1] - s) // 2
        self.out[self.indices == idx] = scaled[y:y + s, x:x + s]


def _short_side(frame: np.ndarray, s: int) -> np.ndarray:
    h, w = frame.shape[:2]
    size = (int(s / w * h), s) if h > w else (s, int(s / h * w))
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
    x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


@register_teacher("minimalisticvqa-vii")
class MinimalisticVQAVII(ModelTeacher):
    temporal = False
    scale = ScoreScale("MinimalisticVQA raw", None, None, "mean per-frame regression; with popt: LSVQ MOS 0..100")
    resources = Resources(decode_num_cpus=0.9, num_cpus=1.0, num_gpus=None, memory_mb=4096, gpu_memory_mb=6000,
                          batch_size=8, max_actors=8)

    def __init__(self, checkpoint: str | None = None, seed: int = 0, frames: int | None = 8, size: int = 384,
                 popt: str | None = None, slowfast_checkpoint: str | None = None, motion_size: int = 224):
        super().__init__(checkpoint, seed)
        self.frames = None if frames is None else positive_int("frames", frames)
        self.size, self.motion_size = positive_int("size", size, 32), positive_int("motion_size", motion_size, 32)
        self.popt, self.slowfast_checkpoint = popt, slowfast_checkpoint
        if slowfast_checkpoint and not self.temporal:
            raise ValueError("teacher minimalisticvqa-vii has no temporal branch: slowfast_checkpoint is for -ix")

    def build(self):
        return MinimalisticVQANet(self.temporal)

    def setup(self) -> None:
        if self.net is not None:
            return
        super().setup()
        self.logistic = None
        if self.popt:
            with uri_mod.open_binary(self.popt) as fh:
                self.logistic = np.load(fh).astype(np.float64).reshape(4)
        if self.temporal:
            self.slowfast, _ = load_slowfast(self.slowfast_checkpoint)
            self.slowfast.to(self.device)

    def prepare(self, uri: str) -> dict[str, np.ndarray]:
        n_keys = []

        def views(n, fps):
            fps = fps or 25.0
            keys = key_frame_positions(n, fps, self.frames)
            n_keys.append(len(keys))
            out = [CropView(keys, self.size)]
            if self.temporal:
                seconds = np.arange(len(keys)).clip(0, max(0, n // max(1, int(round(fps))) - 1))
                out.append(ResizedView(np.concatenate([chunk_positions(n, fps, s) for s in seconds]),
                                       self.motion_size, antialias=True))  # PIL bilinear, as official
            return out

        arrays = sample_views(uri, views)
        out = {"frames": arrays[0]}
        if self.temporal:
            out["chunks"] = arrays[1].reshape(n_keys[0], CHUNK, self.motion_size, self.motion_size, 3)
        return out

    def motion(self, chunks: np.ndarray) -> torch.Tensor:
        paths = [chunk_to_pathways(c) for c in chunks]
        slow = torch.stack([p[0] for p in paths]).to(self.device)
        fast = torch.stack([p[1] for p in paths]).to(self.device)
        return self.slowfast.fast_features([slow, fast])

    def forward(self, items):
        scores = []
        for it in items:  # videos may differ in key-frame count (frames: null)
            x = normalise(it["frames"]).movedim(0, 1)[None].to(self.device)  # 1, T, 3, S, S
            m = self.motion(it["chunks"])[None] if self.temporal else None
            scores.append(float(self.net(x, m).float().cpu()[0]))
        raw = np.asarray(scores)
        if self.logistic is None:
            return raw
        b1, b2, b3, b4 = self.logistic
        return b2 + (b1 - b2) / (1 + np.exp(-(raw - b3) / abs(b4)))


@register_teacher("minimalisticvqa-ix")
class MinimalisticVQAIX(MinimalisticVQAVII):
    temporal = True
    resources = Resources(decode_num_cpus=0.9, num_cpus=1.0, num_gpus=None, memory_mb=6144, gpu_memory_mb=8000,
                          batch_size=4, max_actors=8)
