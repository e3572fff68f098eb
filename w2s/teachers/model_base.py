"""The shared machinery of the checkpoint teachers (FAST-VQA, FasterVQA, DOVER,
MinimalisticVQA): a lazily built network (setup() on the model side only, so the CPU side and
the planner never build it), strict checkpoint loading, one device, and a per-video random
generator so the official random sampling offsets are reproducible."""

from __future__ import annotations

import zlib

import numpy as np
import torch

from w2s.teachers import weights
from w2s.teachers.base import Teacher


def positive_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"teacher parameter {name} must be an integer >= {low}, got {value!r}")
    return value


class ModelTeacher(Teacher):
    """Subclasses define `build()` (the network) and `forward(items)` (batched scores)."""

    def __init__(self, checkpoint: str | None = None, seed: int = 0):
        self.checkpoint, self.seed = checkpoint, int(seed)
        self.net = None
        self.random_init = checkpoint is None

    def build(self) -> torch.nn.Module:
        raise NotImplementedError

    def forward(self, items: list[dict]) -> np.ndarray:
        raise NotImplementedError

    def setup(self) -> None:
        if self.net is not None:
            return
        net = weights.seeded(self.build)
        self.random_init = weights.load_checkpoint(net, self.checkpoint, self.name)
        self.device = weights.device()
        self.net = net.to(self.device).eval()

    def rng(self, uri: str) -> np.random.Generator:
        """The same offsets for the same video on every worker and rerun."""
        return np.random.default_rng([self.seed, zlib.crc32(str(uri).encode())])

    def score_batch(self, items):
        self.setup()
        with torch.inference_mode():
            return np.asarray(self.forward(items), dtype=np.float64)
