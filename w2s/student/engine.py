"""Optimisation of the student, Ray-free: tunable parts, per-part learning rates, the
cosine schedule with warm-up, and one engine interface over DeepSpeed ZeRO-2/3 and
plain DDP (the bench baseline). torch.distributed must already be initialised
(Ray Train does it: gloo on CPU, NCCL on GPU).
"""

from __future__ import annotations

import json
import math
import os

import torch
from torch import nn

PART_NAMES = ("vision_tower", "projector", "motion_projector", "llm")
CKPT_TAG = "ckpt"


class PairModel(nn.Module):
    """The student with `forward_pairs` as `forward`, so DDP / DeepSpeed wrap it as usual."""

    def __init__(self, student):
        super().__init__()
        self.student = student

    def forward(self, input_ids, attention_mask, videos):
        return self.student.forward_pairs(input_ids, attention_mask, videos)


def parts(student) -> dict[str, list[nn.Parameter]]:
    m = student.model
    # LLaVA reads the tower's hidden states: its post-layernorm and pooling head get no gradient
    # (DDP would stop on them), so they are never tuned
    vision = [p for n, p in m.vision_tower.named_parameters()
              if not n.startswith(("head.", "post_layernorm.")) and ".head." not in n
              and "post_layernorm" not in n]
    return {
        "vision_tower": vision,
        "projector": list(m.multi_modal_projector.parameters()) + [m.image_newline],
        "motion_projector": list(student.motion_projector.parameters()),
        "llm": list(m.language_model.parameters()) + list(student.lm_head.parameters()),
    }


def stage_lrs(tc, stage: int) -> dict[str, float]:
    """train.lr for the method's stage 1; stage N > 1 (a student going on from N-1): x later_lr_scale."""
    scale = tc.later_lr_scale if stage > 1 else 1.0
    return {k: v * scale for k, v in tc.lr.items()}


def param_groups(student, tune: list[str], lrs: dict[str, float], weight_decay: float) -> list[dict]:
    """Freeze everything but `tune`; one AdamW group per tuned part with its own lr."""
    unknown = set(tune) - set(PART_NAMES)
    if unknown or not tune:
        raise ValueError(f"tune must name some of {PART_NAMES}, got {tune}")
    missing = [p for p in tune if p not in lrs]
    if missing:
        raise ValueError(f"no learning rate for tuned part(s) {missing} (train.lr)")
    for p in student.parameters():
        p.requires_grad_(False)
    groups = []
    for name, params in parts(student).items():
        if name in tune:
            for p in params:
                p.requires_grad_(True)
            groups.append({"name": name, "params": params, "lr": lrs[name], "weight_decay": weight_decay})
    return groups


def cosine_with_warmup(total_steps: int, warmup_frac: float):
    """LambdaLR factor: linear warm-up over ceil(warmup_frac * total), then cosine to 0."""
    warm = math.ceil(warmup_frac * total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        span = max(1, total_steps - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / span)))

    return factor


def deepspeed_config(tc, world_size: int) -> dict:
    return {
        "train_micro_batch_size_per_gpu": tc.batch_size,
        "gradient_accumulation_steps": tc.grad_accum,
        "train_batch_size": tc.batch_size * tc.grad_accum * world_size,
        "gradient_clipping": tc.max_grad_norm,
        "zero_optimization": {"stage": tc.zero_stage, "overlap_comm": False, "contiguous_gradients": True,
                              "stage3_param_persistence_threshold": tc.zero3_persistence_threshold,
                              "stage3_gather_16bit_weights_on_model_save": False},
        "bf16": {"enabled": tc.bf16},
        "zero_allow_untested_optimizer": True,  # the client AdamW with per-part groups
        "steps_per_print": 10**12,
        "wall_clock_breakdown": False,
    }


class Engine:
    """backward / step / save / load over DeepSpeed or DDP. `module` is the PairModel."""

    def __init__(self, tc, model: PairModel, groups: list[dict], total_steps: int, device: torch.device):
        self.tc, self.strategy = tc, tc.strategy
        self.zero3 = tc.strategy == "deepspeed" and tc.zero_stage == 3
        opt = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_with_warmup(total_steps, tc.warmup_frac))
        world = torch.distributed.get_world_size()
        if tc.strategy == "deepspeed":
            import deepspeed

            self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
                model=model, optimizer=opt, lr_scheduler=sched, config=deepspeed_config(tc, world))
            self.module = self.engine.module
        else:
            from torch.nn.parallel import DistributedDataParallel as DDP

            model.to(device)
            ids = [device.index] if device.type == "cuda" else None
            self.engine = DDP(model, device_ids=ids, find_unused_parameters=False)
            self.optimizer, self.scheduler, self.module = opt, sched, model
            self.accum = 0

    def __call__(self, *args):
        return self.engine(*args)

    def backward(self, loss: torch.Tensor) -> None:
        if self.strategy == "deepspeed":
            self.engine.backward(loss)
        else:
            (loss / self.tc.grad_accum).backward()

    def step(self) -> bool:
        """Returns True when an optimizer step happened (end of gradient accumulation)."""
        if self.strategy == "deepspeed":
            boundary = self.engine.is_gradient_accumulation_boundary()
            self.engine.step()
            return boundary
        self.accum += 1
        if self.accum < self.tc.grad_accum:
            return False
        self.accum = 0
        torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                       self.tc.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return True

    def lrs(self) -> dict[str, float]:
        return {g["name"]: g["lr"] for g in self.optimizer.param_groups if "name" in g} or {
            f"group{i}": g["lr"] for i, g in enumerate(self.optimizer.param_groups)}

    # -- checkpoints: every rank writes its shard (ZeRO) into its own local directory -----------
    def save(self, path: str, state: dict) -> None:
        os.makedirs(path, exist_ok=True)
        if self.strategy == "deepspeed":
            self.engine.save_checkpoint(path, tag=CKPT_TAG, client_state={"w2s": state})
        elif torch.distributed.get_rank() == 0:
            torch.save({"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "w2s": state},
                       os.path.join(path, "ddp_state.pt"))
        if torch.distributed.get_rank() == 0:
            with open(os.path.join(path, "w2s_state.json"), "w") as fh:
                json.dump({k: v for k, v in state.items() if k != "history"}, fh)

    def load(self, path: str) -> dict:
        if self.strategy == "deepspeed":
            _, client = self.engine.load_checkpoint(path, tag=CKPT_TAG)
            if client is None:
                raise RuntimeError(f"no DeepSpeed checkpoint under {path} (was it written by DDP?)")
            return client["w2s"]
        blob = torch.load(os.path.join(path, "ddp_state.pt"), map_location="cpu", weights_only=False)
        self.module.load_state_dict(blob["model"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.scheduler.load_state_dict(blob["scheduler"])
        return blob["w2s"]

    def full_state_context(self):
        """A context in which every parameter is whole on every rank (collective under ZeRO-3)."""
        if self.zero3:
            import deepspeed

            return deepspeed.zero.GatheredParameters(list(self.module.parameters()), modifier_rank=None)
        import contextlib

        return contextlib.nullcontext()
