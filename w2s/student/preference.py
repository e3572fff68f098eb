"""The expected preference of a pair, c = sum_k p_k w_k over the five level
probabilities (METHOD.md section 4), and pair direction accuracy."""

from __future__ import annotations

import torch

from w2s.conversation import LEVEL_WEIGHTS, LEVELS

WEIGHTS = torch.tensor([LEVEL_WEIGHTS[w] for w in LEVELS])


def expected_preference(probs: torch.Tensor) -> torch.Tensor:
    """c = sum_k p_k w_k (0 = second far worse, 1 = second far better)."""
    return probs.float() @ WEIGHTS.to(probs.device)


def direction_correct(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per pair: 1 when the predicted preference c falls on the label's side of 0.5, NaN for
    'similar' labels (no direction), as float."""
    c = expected_preference(probs)
    t = WEIGHTS.to(probs.device)[target] - 0.5
    out = ((c - 0.5) * t > 0).float()
    return torch.where(t == 0, torch.full_like(out, float("nan")), out)


def pair_accuracy(probs, labels) -> dict:
    """Accuracy of (N, 5) level probabilities (numpy or torch, LEVELS order) against level
    labels: `level` = argmax equals the label, `direction` = the better video picked (pairs
    labelled similar left out; None when none has a direction), `pairs` = N."""
    import numpy as np

    p = torch.as_tensor(np.asarray(probs, dtype=np.float64))
    target = torch.tensor([LEVELS.index(str(x)) for x in labels], dtype=torch.long)
    if not len(target):
        return {"pairs": 0, "level": None, "direction": None}
    d = direction_correct(p, target)
    d = d[~torch.isnan(d)]
    return {"pairs": len(target), "level": float((p.argmax(1) == target).double().mean()),
            "direction": float(d.mean()) if len(d) else None}
