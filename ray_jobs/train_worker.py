"""What each Ray Train worker of `train_student` runs (imported inside the worker, after
DS_ACCELERATOR is set): build the student, restore the latest checkpoint, stream the
shard, step, checkpoint, and at the end export the model in Hugging Face format."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import pandas as pd
import ray.train
import torch
import torch.distributed as dist
from ray.train import Checkpoint

from w2s import rundir
from w2s.config import RunCfg
from w2s.student.data import PairBatcher, direction_correct, with_mirrors
from w2s.student.engine import Engine, PairModel, deepspeed_config, param_groups
from w2s.student.loss import confidence_loss
from w2s.student.presets import create_student, image_processor

STATS = ("loss", "ce", "entropy", "alpha", "lam", "temperature")


def _log(msg: str) -> None:
    # Ray Train patches print() into its logger (lines show twice); write to the real stdout
    print(f"[train_student] {msg}", file=sys.__stdout__, flush=True)


def _reduce(values: list[float], device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _checkpoint(engine: Engine, state: dict, metrics: dict) -> None:
    """Every rank saves its part into a local directory; Ray Train merges the uploads."""
    tmp = tempfile.mkdtemp(prefix=f"w2s-ckpt-r{ray.train.get_context().get_world_rank()}-")
    try:
        engine.save(tmp, state)
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_state(out_dir: str, state: dict) -> None:
    rundir.write_parquet(rundir.join(out_dir, "curves.parquet"), pd.DataFrame(state["history"]))
    rundir.write_json(rundir.join(out_dir, "train_state.json"),
                      {k: v for k, v in state.items() if k != "history"})


def _export(engine: Engine, student, tok, processor, probe: dict | None, config: dict, rank: int) -> None:
    """Gather full weights (collective under ZeRO-3); rank 0 saves the HF model and a probe."""
    logits = None
    if probe is not None:
        engine.module.eval()
        with torch.no_grad():
            logits = engine(probe["input_ids"], probe["attention_mask"], probe["videos"]).float().cpu()
        engine.module.train()
    with engine.full_state_context():
        if rank == 0:
            state = {k: v.detach().float().cpu().clone() for k, v in student.state_dict().items()}
    if rank != 0:
        return
    with tempfile.TemporaryDirectory() as tmp:
        student.save_pretrained(tmp, state_dict=state)
        tok.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        rundir.upload_dir(tmp, config["export"])
    if probe is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "export_check.pt")
            torch.save({**{k: probe[k] for k in ("input_ids", "attention_mask", "videos")}, "logits": logits}, path)
            rundir.upload_dir(tmp, config["out_dir"])


def run_worker(config: dict) -> None:
    cfg = RunCfg.model_validate(config["cfg"])
    tc, sc, total = cfg.train, cfg.student, int(config["total_steps"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(tc.seed)
    if tc.strategy == "deepspeed" and tc.zero_stage == 3 and sc.preset == "paper":
        from transformers.integrations import HfDeepSpeedConfig

        _keep = HfDeepSpeedConfig(deepspeed_config(tc, world))  # noqa: F841 (from_pretrained partitions)
    student, tok = create_student(sc.preset, sc.path, seed=sc.seed, image_size=sc.image_size,
                                  patch_size=sc.patch_size)
    if tc.gradient_checkpointing:
        student.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    groups = param_groups(student, tc.tune, tc.lr, tc.weight_decay)
    engine = Engine(tc, PairModel(student), groups, total, device)
    state = {"step": 0, "epoch": 0, "pairs_seen": 0, "history": [], "resumed_from": []}
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = engine.load(d)
        state["resumed_from"].append(state["step"])
        _log(f"rank {rank}: resumed from checkpoint at step {state['step']} / {total}")
    processor = image_processor(student)
    batcher = PairBatcher(student, tok, processor)
    shard = ray.train.get_dataset_shard("train")
    log_every = max(1, total // 20)
    probe, acc_stats, t0 = None, [0.0] * (len(STATS) + 3), time.time()
    while state["step"] < total:
        batches = 0
        for batch in shard.iter_batches(batch_size=tc.batch_size, batch_format="numpy", drop_last=True,
                                        local_shuffle_buffer_size=tc.shuffle_buffer or None,
                                        local_shuffle_seed=tc.seed + state["epoch"]):
            batches += 1
            x = batcher(with_mirrors(batch) if tc.mirror_pairs else batch)
            ids, mask = x["input_ids"].to(device), x["attention_mask"].to(device)
            logits = engine(ids, mask, x["videos"])
            out = confidence_loss(logits, x["labels"].to(device), state["step"] / total, mask, tc.entropy_over,
                                  level_weight=tc.level_weight, level_pos=x["answer_pos"].to(device))
            engine.backward(out["loss"])
            probs = batcher.model.level_probabilities(logits.detach(), x["answer_pos"].to(device))
            hit = direction_correct(probs, x["target"].to(device))
            known = ~hit.isnan()
            stats = [float(out[k].detach()) for k in STATS] + [float(hit[known].sum()), float(known.sum()), len(ids)]
            acc_stats = [a + b for a, b in zip(acc_stats, stats, strict=True)]
            micro = acc_stats[-1] / max(1, len(ids))
            if probe is None:
                probe = {"input_ids": ids.cpu(), "attention_mask": mask.cpu(), "videos": x["videos"]}
            if not engine.step():
                continue
            red = _reduce(acc_stats, device)
            acc_stats = [0.0] * len(acc_stats)
            n = world * micro
            state["step"] += 1
            state["pairs_seen"] += int(red[-1])
            rec = {"step": state["step"], **{k: red[i] / n for i, k in enumerate(STATS)},
                   "pair_acc": red[-3] / red[-2] if red[-2] else float("nan"), "epoch": state["epoch"],
                   "pairs_seen": state["pairs_seen"], "time_s": round(time.time() - t0, 3),
                   **{f"lr_{k}": v for k, v in engine.lrs().items()}}
            state["history"].append(rec)
            if rank == 0 and (state["step"] % log_every == 0 or state["step"] == total):
                _log(f"step {state['step']}/{total} loss {rec['loss']:.3f} ce {rec['ce']:.3f} "
                     f"lambda {rec['lam']:.3f} acc {rec['pair_acc']:.2f} ({rec['time_s']:.0f} s)")
            if state["step"] % tc.checkpoint_every == 0 or state["step"] == total:
                if rank == 0:
                    _write_state(config["out_dir"], state)
                _checkpoint(engine, state, {k: rec[k] for k in ("step", "loss", "ce", "pair_acc")})
            if state["step"] >= total:
                break
        if batches == 0:
            raise RuntimeError("the training dataset produced no batch: every pair failed to decode, or "
                               "fewer pairs than batch_size x num_workers")
        if state["step"] < total:
            state["epoch"] += 1
    if probe is None:  # resumed at the end: one batch for the export check
        x = batcher(next(iter(shard.iter_batches(batch_size=tc.batch_size, batch_format="numpy"))))
        probe = {"input_ids": x["input_ids"], "attention_mask": x["attention_mask"], "videos": x["videos"]}
    if rank == 0:
        _write_state(config["out_dir"], state)
    _export(engine, student, tok, processor, probe, config, rank)
