"""The teacher interface and registry (`create_teacher(name, **params)`).

A teacher splits its work in two so a stage can feed accelerators without
starving them: `prepare(uri)` is the CPU side (decode + the teacher's own
sampling / feature extraction, small arrays out), `score_batch(items)` the
model side (a batched forward, run in an actor pool after `setup()`).
Each teacher declares the resources of both sides and its score scale.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Resources:
    """What one copy of each side needs; the stage sizes its pools from this."""

    decode_num_cpus: float = 0.9  # CPU side, per task (fractional: headroom for Ray's reads)
    num_cpus: float = 0.5  # model side, per actor
    num_gpus: float | None = 0.0  # model side, per actor; None = one GPU when the cluster has GPUs, else CPU
    memory_mb: int = 512  # model side, per actor (host memory)
    gpu_memory_mb: int = 0  # model side, GPU memory one actor needs at `batch_size` (what fits a GPU)
    batch_size: int = 8  # videos per model call
    max_actors: int = 1  # model-side pool size upper bound (scaled by the autoscaler)


@dataclass(frozen=True)
class ScoreScale:
    """How to read a teacher's raw score. Every teacher returns higher = better."""

    name: str
    low: float | None = None  # nominal range, None = unbounded
    high: float | None = None
    note: str = ""


class Teacher(ABC):
    name: str = "teacher"
    resources: Resources = Resources()
    scale: ScoreScale = ScoreScale("raw")

    def setup(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Load weights etc. Called once per model-side actor."""

    @abstractmethod
    def prepare(self, uri: str) -> dict[str, np.ndarray]:
        """CPU side for one video; raises VideoDecodeError for a bad video."""

    @abstractmethod
    def score_batch(self, items: list[dict[str, np.ndarray]]) -> np.ndarray:
        """Model side: one score per prepared item (higher = better)."""

    def score(self, uri: str) -> float:
        """Both sides in this process (tests, notebooks)."""
        return float(self.score_batch([self.prepare(uri)])[0])


_REGISTRY: dict[str, type[Teacher]] = {}


def register_teacher(name: str):
    def deco(cls: type[Teacher]) -> type[Teacher]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def available_teachers() -> list[str]:
    return sorted(_REGISTRY)


def create_teacher(name: str, **params) -> Teacher:
    """A teacher by registry name; checkpoint teachers take `checkpoint=<path or URI>`."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown teacher {name!r}; available: {', '.join(available_teachers())}") from None
    return cls(**params)
