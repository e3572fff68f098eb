"""A weak teacher made of low-level metrics (no weights).

score = 100 * (0.35 * sharpness + 0.25 * (1 - noise) + 0.25 * (1 - blocking) + 0.15 * exposure)
with, from the nine metrics at 1 fps:
  sharpness = min(CPBD / 0.6, 1)
  noise     = min(Immerkaer sigma / 8 grey levels, 1)
  blocking  = clip((blockiness - 1) / 0.5, 0, 1)
  exposure  = 1 - min(|mean luma - 118| / 118, 1)
Range 0..100, higher = better.
"""

from __future__ import annotations

import numpy as np

from w2s.metrics import METRIC_NAMES, video_metrics
from w2s.teachers.base import Resources, ScoreScale, Teacher, register_teacher

WEIGHTS = {"sharpness": 0.35, "noise": 0.25, "blocking": 0.25, "exposure": 0.15}


def lowlevel_score(m: dict) -> float:
    sharp = min(m["blur"] / 0.6, 1.0)
    noise = min(m["noise"] / 8.0, 1.0)
    blocking = float(np.clip((m["blockiness"] - 1.0) / 0.5, 0.0, 1.0))
    exposure = 1.0 - min(abs(m["luminance"] - 118.0) / 118.0, 1.0)
    return 100.0 * (WEIGHTS["sharpness"] * sharp + WEIGHTS["noise"] * (1 - noise)
                    + WEIGHTS["blocking"] * (1 - blocking) + WEIGHTS["exposure"] * exposure)


@register_teacher("lowlevel")
class LowLevelTeacher(Teacher):
    resources = Resources(decode_num_cpus=0.9, num_cpus=0.25, batch_size=64)
    scale = ScoreScale("lowlevel", 0.0, 100.0, "weighted sharpness/noise/blocking/exposure")

    def prepare(self, uri: str) -> dict[str, np.ndarray]:
        m = video_metrics(uri)
        return {"metrics": np.array([m[k] for k in METRIC_NAMES], dtype=np.float64)}

    def score_batch(self, items):
        return np.array([lowlevel_score(dict(zip(METRIC_NAMES, it["metrics"], strict=True)))
                         for it in items])
