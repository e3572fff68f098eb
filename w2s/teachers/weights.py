"""Checkpoint loading for the model teachers: a local path or URI, never a download.

`load_checkpoint(model, checkpoint, name)` unwraps the official containers
({"state_dict": ...} for FAST-VQA / FasterVQA, {"model_state": ...}, {"model": ...}, or a
bare state dict), strips a DataParallel `module.` prefix, and loads with strict=True: a
missing or unexpected key is an error naming the first few, never a silently half-loaded
teacher. Without a checkpoint the weights are random (seeded) and a loud warning says so:
only for tests and the demo.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from w2s import uri as uri_mod

log = logging.getLogger(__name__)
CONTAINERS = ("state_dict", "model_state", "model", "module")
RANDOM_SEED = 0


class CheckpointError(ValueError):
    """The checkpoint cannot be read or does not fit the architecture."""


def read_state_dict(checkpoint: str) -> dict[str, torch.Tensor]:
    if not uri_mod.exists(checkpoint):
        raise CheckpointError(f"checkpoint not found: {checkpoint}")
    with uri_mod.open_binary(checkpoint) as fh:
        blob = torch.load(fh, map_location="cpu", weights_only=False)
    for key in CONTAINERS:
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
            break
    if not isinstance(blob, dict) or not all(isinstance(v, torch.Tensor) for v in blob.values()):
        raise CheckpointError(f"{checkpoint}: not a state dict (or one of {', '.join(CONTAINERS)} holding one)")
    if blob and all(k.startswith("module.") for k in blob):
        blob = {k[len("module."):]: v for k, v in blob.items()}
    return blob


def load_checkpoint(model: nn.Module, checkpoint: str | None, name: str) -> bool:
    """Load `checkpoint` into `model` (strict); returns whether the weights are random."""
    if not checkpoint:
        log.warning("teacher %s uses RANDOMLY INITIALISED weights (no checkpoint given): fine for tests "
                    "and the demo, meaningless as a quality score", name)
        return True
    state = read_state_dict(checkpoint)
    wrong = [k for k, v in model.state_dict().items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"teacher {name}: {checkpoint}: shape mismatch for {wrong[:4]}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"teacher {name}: {checkpoint} does not match the architecture: {len(missing)} missing keys "
            f"{missing[:4]}, {len(unexpected)} unexpected keys {unexpected[:4]}")
    return False


def seeded(build):
    """Build a module with the fixed random-init seed (every actor gets the same network)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        return build()


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
