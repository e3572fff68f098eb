"""Motion features: the SlowFast-R50 fast-pathway feature (256-d) of each 1-second chunk.

Chunk k = 32 consecutive frames from key frame k (frame k*fps), padded with the
last frame; the slow pathway takes 8 of the 32 (evenly spaced, as pytorchvideo's
PackPathway), frames resized to 224 and normalised with mean 0.45, std 0.225.
Weights come from a checkpoint path/URI (pytorchvideo's SLOWFAST_8x8_R50.pyth,
`{"model_state": ...}`, or a bare state dict). Without one the network is
randomly initialised: only for tests and the demo, and it says so loudly.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from w2s import uri as uri_mod
from w2s.student.slowfast import ALPHA, SlowFastR50
from w2s.video import open_reader

log = logging.getLogger(__name__)
CHUNK = 32
SIZE = 224
MEAN, STD = 0.45, 0.225
FEATURE_DIM = 256
RANDOM_INIT_SEED = 0
RANDOM_INIT_WARNING = ("SlowFast motion features use RANDOMLY INITIALISED weights (no checkpoint given): "
                       "fine for tests and the demo, meaningless for real training")


def slow_indices(length: int = CHUNK, alpha: int = ALPHA) -> torch.Tensor:
    return torch.linspace(0, length - 1, length // alpha).long()


def chunk_to_pathways(chunk: np.ndarray) -> list[torch.Tensor]:
    """(T, H, W, 3) uint8 -> [slow (3, T/4, H, W), fast (3, T, H, W)] float, normalised."""
    x = torch.from_numpy(np.ascontiguousarray(chunk)).float().div_(255.0)
    x = x.sub_(MEAN).div_(STD).permute(3, 0, 1, 2)  # C, T, H, W
    return [x.index_select(1, slow_indices(x.shape[1])), x]


def load_slowfast(checkpoint: str | None) -> tuple[SlowFastR50, bool]:
    """The network and whether it is randomly initialised. Random weights are seeded, so every
    actor of a stage (and every run) computes features with the same network."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = SlowFastR50()
    if not checkpoint:
        log.warning(RANDOM_INIT_WARNING)
        return model.eval(), True
    with uri_mod.open_binary(checkpoint) as fh:
        state = torch.load(fh, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "model_state" in state:
        state = state["model_state"]
    model.load_state_dict(state, strict=True)
    return model.eval(), False


class MotionExtractor:
    """`features(uri)` -> (num_seconds, 256) float32, one row per 1-second chunk."""

    def __init__(self, checkpoint: str | None = None, size: int = SIZE, batch_size: int = 4,
                 device: str | None = None):
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.random_init = load_slowfast(checkpoint)
        self.model.to(self.device)
        self.size, self.batch_size = size, batch_size

    @torch.inference_mode()
    def _run(self, chunks) -> np.ndarray:
        paths = [chunk_to_pathways(c) for c in chunks]
        slow = torch.stack([p[0] for p in paths]).to(self.device)
        fast = torch.stack([p[1] for p in paths]).to(self.device)
        return self.model.fast_features([slow, fast]).float().cpu().numpy()

    def features_from_chunks(self, chunks: np.ndarray) -> np.ndarray:
        """(K, 32, S, S, 3) uint8 chunks already decoded at `size` -> (K, 256) float32."""
        out = [self._run(chunks[i:i + self.batch_size]) for i in range(0, len(chunks), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, FEATURE_DIM), np.float32)

    def features(self, uri: str, max_seconds: int | None = None) -> np.ndarray:
        """One row per 1-s chunk; `max_seconds`: only the first ones (the rest is not decoded)."""
        out, pending = [], []
        with open_reader(uri) as reader:
            keys = None
            if max_seconds is not None:
                keys = range(min(max_seconds, len(reader.key_frame_indices())))
            for _, chunk in reader.chunks(size=(self.size, self.size), length=CHUNK, keys=keys):
                pending.append(chunk)
                if len(pending) == self.batch_size:
                    out.append(self._run(pending))
                    pending = []
        if pending:
            out.append(self._run(pending))
        return np.concatenate(out).astype(np.float32)
