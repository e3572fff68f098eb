"""The nine low-level metrics of a video, at 1 frame per second (METHOD.md section 1)."""

from __future__ import annotations

import numpy as np

from w2s.metrics import spatial, temporal
from w2s.metrics.cpbd import cpbd
from w2s.video import open_reader

METRIC_NAMES = (
    "blockiness", "blur", "contrast", "noise", "flicker",
    "colourfulness", "luminance", "si", "ti",
)


def frame_metrics(rgb: np.ndarray) -> dict:
    """The spatial metrics of one RGB frame (blur is CPBD, NaN without edges)."""
    y = spatial.luma(rgb)
    return {
        "blockiness": spatial.blockiness(y),
        "blur": cpbd(y),
        "contrast": spatial.contrast(y),
        "noise": spatial.noise_sigma(y),
        "colourfulness": spatial.colourfulness(rgb),
        "luminance": spatial.luminance(y),
        "si": spatial.spatial_information(y),
    }


def video_metrics(uri: str, backend: str = "pyav", per_second: float = 1.0) -> dict:
    """Nine metrics: means over the sampled frames (max for SI and TI); TI and flicker
    use the pair (frame k*fps, frame k*fps + 1) at each sampled second.
    Blur (CPBD) averages the frames that have edges; 0 when none has."""
    rows, tis, maps = [], [], []
    with open_reader(uri, backend=backend) as reader:
        for _, f0, f1 in reader.frame_pairs(per_second=per_second):
            rows.append(frame_metrics(f0))
            y0, y1 = spatial.luma(f0), spatial.luma(f1)
            tis.append(temporal.temporal_information(y0, y1))
            maps.append(temporal.updated_blocks(y0, y1))
    blur = np.array([r["blur"] for r in rows], dtype=np.float64)
    out = {
        "blockiness": float(np.mean([r["blockiness"] for r in rows])),
        "blur": float(np.nanmean(blur)) if np.isfinite(blur).any() else 0.0,
        "contrast": float(np.mean([r["contrast"] for r in rows])),
        "noise": float(np.mean([r["noise"] for r in rows])),
        "flicker": temporal.flicker(maps),
        "colourfulness": float(np.mean([r["colourfulness"] for r in rows])),
        "luminance": float(np.mean([r["luminance"] for r in rows])),
        "si": float(np.max([r["si"] for r in rows])),
        "ti": float(np.max(tis)),
    }
    return {k: out[k] for k in METRIC_NAMES}
