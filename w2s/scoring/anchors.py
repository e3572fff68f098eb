"""Anchor videos of a checkpoint (METHOD.md section 4) and their file in the checkpoint.

Five anchors span the quality range: the ensemble teacher-score range (mu) of the
stage's training videos is cut into equal-width intervals, and in each interval the
video nearest its midpoint is the anchor. The 10 anchor-vs-anchor comparisons (t = 1)
are computed once; `anchors.json` holds them with the anchors' URIs and scores, the
temperatures, the link and the sampling, and `anchors/<i>.npz` holds each anchor's
key frames and motion features, so a checkpoint directory scores on its own.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from w2s import uri
from w2s.rundir import ANCHORS_JSON
from w2s.scoring.inputs import Sampling, VideoInputs

ANCHORS_DIR = "anchors"
FORMAT_VERSION = 1


class EmptyInterval(ValueError):
    pass


def candidates(mu: pd.Series, n: int = 5) -> list[pd.DataFrame]:
    """Per equal-width interval of mu's range, its videos ranked by distance to the midpoint
    (the first is the anchor; the others stand in when it cannot be decoded).
    `mu`: index = uri, values = ensemble teacher score. EmptyInterval names the empty ones."""
    mu = mu.dropna().sort_index()
    if len(mu) < n:
        raise EmptyInterval(f"{len(mu)} training videos with teacher scores, {n} anchors needed")
    edges = np.linspace(mu.min(), mu.max(), n + 1)
    which = np.clip(np.searchsorted(edges, mu.to_numpy(), side="right") - 1, 0, n - 1)
    out, empty = [], []
    for k in range(n):
        mid = (edges[k] + edges[k + 1]) / 2
        sub = mu[which == k]
        if sub.empty:
            empty.append(f"[{edges[k]:.3f}, {edges[k + 1]:.3f})")
        dist = (sub - mid).abs()
        ranked = pd.DataFrame({"uri": sub.index, "mu": sub.to_numpy(), "dist": dist.to_numpy(),
                               "interval": k, "lo": edges[k], "hi": edges[k + 1], "mid": mid})
        out.append(ranked.sort_values(["dist", "uri"], kind="stable").reset_index(drop=True))
    if empty:
        raise EmptyInterval(
            f"no training video has an ensemble teacher score in interval(s) {', '.join(empty)} of "
            f"[{mu.min():.3f}, {mu.max():.3f}] ({len(mu)} videos): the scores cluster. Train on a subset "
            f"that spans the quality range (more videos: select.n), or use fewer anchors (scoring.num_anchors)")
    return out


def choose(mu: pd.Series, n: int = 5) -> pd.DataFrame:
    """The anchors: one row per interval (uri, mu, interval, lo, hi, mid)."""
    return pd.concat([c.iloc[:1] for c in candidates(mu, n)], ignore_index=True).drop(columns="dist")


@dataclass
class Anchor:
    uri: str
    mu: float
    interval: list[float]
    file: str


@dataclass
class AnchorSet:
    """The content of anchors.json (plus the anchors' inputs once loaded)."""
    anchors: list[Anchor]
    matrix: list[list[float]]             # M[j][i] = c(anchor i first, anchor j second), diagonal 0.5
    sampling: Sampling
    temperature_test: float = 5.0
    temperature_anchor: float = 1.0
    link: str = "phi"
    motion_checkpoint: str | None = None  # the SlowFast weights the anchors' motion was computed with
    motion_random_init: bool = True
    teachers: list[str] = field(default_factory=list)
    source: dict = field(default_factory=dict)  # run dir, stage, created
    inputs: list[VideoInputs] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("inputs")
        return {"format": FORMAT_VERSION, **d}

    def save(self, ckpt_dir: str) -> str:
        for a, x in zip(self.anchors, self.inputs, strict=True):
            buf = io.BytesIO()
            np.savez_compressed(buf, frames=x.frames, motion=x.motion)
            uri.write_bytes(uri.join(ckpt_dir, a.file), buf.getvalue())
        self.source.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
        return uri.write_json(uri.join(ckpt_dir, ANCHORS_JSON), self.to_json())

    @classmethod
    def load(cls, ckpt_dir: str, with_inputs: bool = True) -> AnchorSet:
        path = uri.join(ckpt_dir, ANCHORS_JSON)
        if not uri.exists(path):
            raise FileNotFoundError(f"{path} not found: the checkpoint has no anchors yet (run the `anchors` "
                                    f"stage: python -m ray_jobs anchors --config ...)")
        d = uri.read_json(path)
        if d.pop("format", None) != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported anchors format")
        d["anchors"] = [Anchor(**a) for a in d["anchors"]]
        d["sampling"] = Sampling(**d["sampling"])
        s = cls(**d)
        if with_inputs:
            for a in s.anchors:
                z = np.load(io.BytesIO(uri.read_bytes(uri.join(ckpt_dir, a.file))))
                s.inputs.append(VideoInputs(a.uri, z["frames"], None, z["motion"]))
        return s

    @property
    def mu(self) -> np.ndarray:
        return np.array([a.mu for a in self.anchors])


def anchor_file(i: int) -> str:
    return f"{ANCHORS_DIR}/{i}.npz"


def anchor_matrix(c_upper: dict[tuple[int, int], float], n: int) -> np.ndarray:
    """The n x n anchor block from c(i first, j second) for i < j: M[j,i] = c_ij, M[i,j] = 1 - c_ij."""
    m = np.full((n, n), 0.5)
    for (i, j), c in c_upper.items():
        m[j, i], m[i, j] = c, 1.0 - c
    return m
