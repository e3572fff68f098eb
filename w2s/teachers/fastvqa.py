"""FAST-VQA, FasterVQA and DOVER as weak teachers (official checkpoints, strict loading).

| teacher   | checkpoint (official release)      | input per video                                        |
|-----------|------------------------------------|--------------------------------------------------------|
| fast-vqa  | FAST_VQA_B_1*4.pth ({"state_dict"}) | 4 clips x 32 frames (interval 2) of 7x7 fragments, 224 |
| fastervqa | FAST_VQA_3D_1*1.pth ({"state_dict"})| 1 clip: 8 segments x 4 frames of 7x7 fragments, 224     |
| dover     | DOVER.pth (bare state dict)        | technical 3 x 32 fragment frames + aesthetic 32 x 224^2 |

Sampling follows the official evaluation datasets (FusionDataset / ViewDecompositionDataset):
see w2s/teachers/sampling.py. Scores: `output: sigmoid` (default) is the official 0..1
rescale of vqa.py, sigmoid((raw - mean) / std) with the model's published mean/std; `raw` is
the head's mean. DOVER's default `overall` is the official fusion of evaluate_one_video.py:
x = (t - 0.1107) / 0.07355 * 0.6104 + (a + 0.08285) / 0.03774 * 0.3896, overall = sigmoid(x),
t / a = the technical / aesthetic raw scores.
"""

from __future__ import annotations

import numpy as np
import torch

from w2s.teachers.base import Resources, ScoreScale, register_teacher
from w2s.teachers.model_base import ModelTeacher, positive_int
from w2s.teachers.sampling import (
    FragmentView,
    ResizedView,
    normalise,
    sample_views,
    segment_indices,
)
from w2s.teachers.vqa_nets import DOVERNet, FastVQANet

RESCALE = {"fast-vqa": (-0.110198185, 0.04178565), "fastervqa": (0.14759505, 0.03613452)}  # vqa.py mean_stds
# batch_size counts videos; a model call runs num_clips clips per video (estimates until
# bench/teachers_gpu.py measures them: about 1 GB of activations per 32 x 224^2 clip)
GPU = Resources(decode_num_cpus=0.9, num_cpus=1.0, num_gpus=None, memory_mb=4096, gpu_memory_mb=8000, batch_size=2,
                max_actors=8)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


class FragmentTeacher(ModelTeacher):
    """Grid mini-patch fragments -> Swin-T-3D -> VQA head; the mean over clips and positions."""

    defaults: dict = {}
    scale = ScoreScale("sigmoid-rescaled", 0.0, 1.0, "official vqa.py rescale; output: raw = the head's mean")
    resources = GPU

    def __init__(self, checkpoint: str | None = None, seed: int = 0, output: str = "sigmoid", **sampling):
        super().__init__(checkpoint, seed)
        unknown = set(sampling) - set(self.defaults)
        if unknown:
            raise ValueError(f"teacher {self.name}: unknown parameters {sorted(unknown)}; "
                             f"known: checkpoint, seed, output, {', '.join(self.defaults)}")
        self.opt = {**self.defaults, **sampling}
        for k, v in self.opt.items():
            if v is not None:
                positive_int(k, v)
        if output not in ("sigmoid", "raw"):
            raise ValueError(f"teacher {self.name}: output must be sigmoid or raw, got {output!r}")
        self.output = output

    def build(self):
        return FastVQANet("grpb")

    def indices(self, n: int, rng) -> np.ndarray:
        o = self.opt
        if o["t_frag"]:
            return segment_indices(n, o["clip_len"] // o["t_frag"], o["t_frag"], o["frame_interval"], o["num_clips"], rng)
        return segment_indices(n, o["clip_len"], o["num_clips"], o["frame_interval"], 1, rng)

    def prepare(self, uri: str) -> dict[str, np.ndarray]:
        o, rng = self.opt, self.rng(uri)
        (frags,) = sample_views(uri, lambda n, _fps: [FragmentView(self.indices(n, rng), o["fragments"], o["fsize"],
                                                             o["aligned"], rng)])
        return {"fragments": frags}

    def clips(self, frames: np.ndarray, num_clips: int) -> torch.Tensor:
        """(num_clips * T, S, S, 3) uint8 -> (num_clips, 3, T, S, S) normalised, on the device."""
        x = normalise(frames.reshape(num_clips, -1, *frames.shape[1:]))
        return x.to(self.device)

    def forward(self, items):
        k = self.opt["num_clips"]
        x = torch.cat([self.clips(it["fragments"], k) for it in items])
        raw = self.net(x).float().cpu().numpy().reshape(len(items), k).mean(axis=1)
        if self.output == "raw":
            return raw
        mean, std = RESCALE[self.name]
        return sigmoid((raw - mean) / std)


@register_teacher("fast-vqa")
class FastVQATeacher(FragmentTeacher):
    """FAST-VQA-B (options/fast/fast-b.yml, test sampling of its val sets)."""

    defaults = {"fragments": 7, "fsize": 32, "clip_len": 32, "num_clips": 4, "t_frag": None, "aligned": 32,
                "frame_interval": 2}


@register_teacher("fastervqa")
class FasterVQATeacher(FragmentTeacher):
    """FasterVQA (options/fast/f3dvqa-b.yml): one clip of 8 temporal fragments x 4 frames."""

    defaults = {"fragments": 7, "fsize": 32, "clip_len": 32, "num_clips": 1, "t_frag": 8, "aligned": 8,
                "frame_interval": 2}
    resources = Resources(decode_num_cpus=0.9, num_cpus=1.0, num_gpus=None, memory_mb=4096, gpu_memory_mb=8000,
                          batch_size=8, max_actors=8)


@register_teacher("dover")
class DOVERTeacher(FragmentTeacher):
    """DOVER (dover.yml, val-l1080p sampling): technical fragments + aesthetic resized frames."""

    defaults = {"fragments": 7, "fsize": 32, "clip_len": 32, "num_clips": 3, "t_frag": None, "aligned": 32,
                "frame_interval": 2, "aesthetic_size": 224, "aesthetic_frames": 32}
    scale = ScoreScale("DOVER overall", 0.0, 1.0, "official score-level fusion; output: technical / aesthetic = raw branch")
    resources = Resources(decode_num_cpus=0.9, num_cpus=1.0, num_gpus=None, memory_mb=6144, gpu_memory_mb=9000,
                          batch_size=2, max_actors=8)

    def __init__(self, checkpoint: str | None = None, seed: int = 0, output: str = "overall", **sampling):
        super().__init__(checkpoint, seed, "raw", **sampling)
        if output not in ("overall", "technical", "aesthetic"):
            raise ValueError(f"teacher dover: output must be overall, technical or aesthetic, got {output!r}")
        self.output = output

    def build(self):
        return DOVERNet()

    def prepare(self, uri: str) -> dict[str, np.ndarray]:
        o, rng = self.opt, self.rng(uri)

        def views(n, _fps):
            aes = segment_indices(n, 1, o["aesthetic_frames"], o["frame_interval"], 1, rng)
            return [FragmentView(self.indices(n, rng), o["fragments"], o["fsize"], o["aligned"], rng),
                    ResizedView(aes, o["aesthetic_size"])]

        tech, aes = sample_views(uri, views)
        return {"technical": tech, "aesthetic": aes}

    def forward(self, items):
        k = self.opt["num_clips"]
        tech = torch.cat([self.clips(it["technical"], k) for it in items])
        aes = torch.cat([self.clips(it["aesthetic"], 1) for it in items])
        t = self.net.technical(tech).float().cpu().numpy().reshape(len(items), k).mean(axis=1)
        a = self.net.aesthetic(aes).float().cpu().numpy()
        if self.output == "technical":
            return t
        if self.output == "aesthetic":
            return a
        return dover_fusion(t, a)


def dover_fusion(technical, aesthetic) -> np.ndarray:
    """The official overall score (evaluate_one_video.py fuse_results), 0..1."""
    x = (np.asarray(technical) - 0.1107) / 0.07355 * 0.6104 + (np.asarray(aesthetic) + 0.08285) / 0.03774 * 0.3896
    return sigmoid(x)
