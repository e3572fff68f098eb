"""Cross-entropy plus the adaptive confidence term (METHOD.md section 3).

    H      = mean entropy of the predicted token distribution
             (over the answer positions: the project's decision; `entropy_over="all"`
             averages over every position, as the released code does)
    T      = 0.5 -> 0.1 linearly over the first 10 % of steps, then 0.1
    alpha  = exp(H/T) / (exp(H/T) + exp(CE/T))      (no gradient through alpha)
    lambda = min(1, step_frac / 0.1) * alpha
    loss   = (1 - lambda) * CE + lambda * H

CE averages over the answer tokens (METHOD.md). `level_weight` w != 1 (an option, off by
default) counts the level word w times in that average: the template words around it are
learned in a few steps and then dilute the one informative token, which a randomly
initialised student (the tiny preset) cannot afford.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE = -100


@dataclass(frozen=True)
class ConfidenceSchedule:
    warmup_frac: float = 0.1
    t_start: float = 0.5
    t_end: float = 0.1

    def temperature(self, step_frac: float) -> float:
        if step_frac >= self.warmup_frac:
            return self.t_end
        return self.t_start + (self.t_end - self.t_start) * step_frac / self.warmup_frac

    def ramp(self, step_frac: float) -> float:
        return min(1.0, step_frac / self.warmup_frac)


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def confidence_loss(logits: torch.Tensor, labels: torch.Tensor, step_frac: float,
                    attention_mask: torch.Tensor | None = None, entropy_over: str = "answer",
                    schedule: ConfidenceSchedule = ConfidenceSchedule(), level_weight: float = 1.0,
                    level_pos: torch.Tensor | None = None, confidence: bool = True) -> dict[str, torch.Tensor]:
    """`logits` (B, L, V) of a causal LM and `labels` (B, L) with IGNORE outside the answer.
    Position t predicts labels[t + 1]; `level_pos` (B,) = the positions whose logits predict
    the level word (needed when level_weight != 1). Returns loss, ce, entropy, alpha, lam,
    temperature. `confidence=False`: lambda = 0, the cross-entropy alone (the paper's Table 1
    rows without the confidence loss)."""
    logits, targets = logits[:, :-1], labels[:, 1:]
    answer = targets != IGNORE
    if not answer.any():
        raise ValueError("no answer tokens in the batch")
    per_token = F.cross_entropy(logits[answer].float(), targets[answer], reduction="none")
    if level_weight == 1.0:
        ce = per_token.mean()
    else:
        if level_pos is None:
            raise ValueError("level_weight != 1 needs level_pos")
        w = torch.ones_like(answer, dtype=per_token.dtype)
        rows = torch.arange(len(level_pos), device=w.device)
        if not answer[rows, level_pos].all():
            raise ValueError("level_pos must point at answer tokens")
        w[rows, level_pos] = level_weight
        w = w[answer]
        ce = (per_token * w).sum() / w.sum()
    ent = _entropy(logits)
    if entropy_over == "answer":
        h = ent[answer].mean()
    elif entropy_over == "all":
        mask = torch.ones_like(answer) if attention_mask is None else attention_mask[:, 1:].bool()
        h = ent[mask].mean()
    else:
        raise ValueError("entropy_over must be 'answer' or 'all'")
    t = schedule.temperature(step_frac)
    alpha = torch.sigmoid((h.detach() - ce.detach()) / t)  # = e^(H/T) / (e^(H/T) + e^(CE/T))
    lam = schedule.ramp(step_frac) * alpha * float(confidence)
    loss = (1 - lam) * ce + lam * h
    return {"loss": loss, "ce": ce.detach(), "entropy": h.detach(), "alpha": alpha,
            "lam": lam, "temperature": torch.tensor(t)}
