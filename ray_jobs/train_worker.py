"""What each Ray Train worker of `train_student` runs (imported inside the worker, after
DS_ACCELERATOR is set): build the student, restore the latest checkpoint, stream the
shard, step, checkpoint, and at the end export the model in Hugging Face format."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import ray.train
import torch
import torch.distributed as dist
from ray.train import Checkpoint

from ray_jobs.progress import set_state
from ray_jobs.train_export import export_model
from w2s import uri
from w2s.config import RunCfg
from w2s.rundir import RunDir
from w2s.student.batching import PairBatcher
from w2s.student.engine import Engine, PairModel, deepspeed_config, param_groups, stage_lrs
from w2s.student.loss import confidence_loss
from w2s.student.mirror import with_mirrors
from w2s.student.preference import direction_correct
from w2s.student.presets import create_student, image_processor, load_exported

STATS = ("loss", "ce", "entropy", "alpha", "lam", "temperature")
COUNTS = 3  # after STATS: pairs with a direction right, pairs with a direction, examples


def _log(msg: str) -> None:
    # Ray Train patches print() into its logger (lines show twice); write to the real stdout
    print(f"[train_student] {msg}", file=sys.__stdout__, flush=True)


def _build_student(cfg: RunCfg, world: int):
    tc, sc = cfg.train, cfg.student
    if tc.strategy == "deepspeed" and tc.zero_stage == 3 and (sc.preset == "paper" or tc.init_from):
        from transformers.integrations import HfDeepSpeedConfig

        # from_pretrained partitions the weights as they load; DeepSpeed's own comm is not up yet (its
        # world size reads 1 here), so leave train_batch_size out: only the ZeRO settings matter now
        ds = {k: v for k, v in deepspeed_config(tc, world).items() if k != "train_batch_size"}
        _keep = HfDeepSpeedConfig(ds)  # noqa: F841
    if tc.init_from:  # a later stage starts from the previous stage's student
        student, tok = load_exported(tc.init_from)
    else:
        student, tok = create_student(sc.preset, sc.path, seed=sc.seed, image_size=sc.image_size,
                                      patch_size=sc.patch_size)
    if tc.gradient_checkpointing:
        student.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return student, tok


class Worker:
    """One Ray Train worker's run: `Worker(config).run()`."""

    def __init__(self, config: dict):
        self.cfg = RunCfg.model_validate(config["cfg"])
        self.tc, self.total, self.progress = self.cfg.train, int(config["total_steps"]), config.get("progress")
        self.shuffle_rows = int(config.get("shuffle_rows", self.tc.shuffle_buffer))
        self.run_dir, self.name = RunDir(self.cfg.run_dir), self.tc.name
        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.device = ray.train.torch.get_device()
        torch.manual_seed(self.tc.seed)
        self.student, self.tok = _build_student(self.cfg, self.world)
        groups = param_groups(self.student, self.tc.tune, stage_lrs(self.tc, self.cfg.iteration), self.tc.weight_decay)
        self.engine = Engine(self.tc, PairModel(self.student), groups, self.total, self.device)
        self.state = {"step": 0, "epoch": 0, "pairs_seen": 0, "history": [], "resumed_from": []}
        self.processor = image_processor(self.student)
        rng = np.random.default_rng([self.tc.seed, self.rank, 7]) if self.tc.augment else None
        self.batcher = PairBatcher(self.student, self.tok, self.processor, augment=rng)
        self.shard = ray.train.get_dataset_shard("train")
        self.sums, self.probe, self.t0 = [0.0] * (len(STATS) + COUNTS), None, time.time()

    def restore(self) -> None:
        ckpt = ray.train.get_checkpoint()
        if ckpt is None:
            return
        with ckpt.as_directory() as d:
            self.state = self.engine.load(d)
        self.state["resumed_from"].append(self.state["step"])
        _log(f"rank {self.rank}: resumed from checkpoint at step {self.state['step']} / {self.total}")

    def micro_step(self, batch: dict) -> bool:
        """Forward + backward of one micro-batch; True when the optimizer stepped."""
        tc, device = self.tc, self.device
        x = self.batcher(with_mirrors(batch) if tc.mirror_pairs else batch)
        ids, mask, pos = x["input_ids"].to(device), x["attention_mask"].to(device), x["answer_pos"].to(device)
        logits = self.engine(ids, mask, x["videos"])
        out = confidence_loss(logits, x["labels"].to(device), self.state["step"] / self.total, mask,
                              tc.entropy_over, level_weight=tc.level_weight, level_pos=pos,
                              confidence=tc.confidence_loss)
        self.engine.backward(out["loss"])
        hit = direction_correct(self.batcher.model.level_probabilities(logits.detach(), pos), x["target"].to(device))
        known = ~hit.isnan()
        stats = [float(out[k].detach()) for k in STATS] + [float(hit[known].sum()), float(known.sum()), len(ids)]
        self.sums = [a + b for a, b in zip(self.sums, stats, strict=True)]
        self.micro = self.sums[-1] / max(1, len(ids))
        if self.probe is None:
            self.probe = {"input_ids": ids.cpu(), "attention_mask": mask.cpu(), "videos": x["videos"]}
        return self.engine.step()

    def end_step(self) -> None:
        """After an optimizer step: the curve row (averaged over workers), log, checkpoint."""
        t = torch.tensor(self.sums, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        red, n, self.sums = t.tolist(), self.world * self.micro, [0.0] * len(self.sums)
        st = self.state
        st["step"] += 1
        st["pairs_seen"] += int(red[-1])
        rec = {"step": st["step"], **{k: red[i] / n for i, k in enumerate(STATS)},
               "pair_acc": red[-3] / red[-2] if red[-2] else float("nan"), "epoch": st["epoch"],
               "pairs_seen": st["pairs_seen"], "time_s": round(time.time() - self.t0, 3),
               **{f"lr_{k}": v for k, v in self.engine.lrs().items()}}
        st["history"].append(rec)
        if self.rank == 0:
            set_state(self.progress, st["step"], loss=f"{rec['loss']:.3f}", acc=f"{rec['pair_acc']:.2f}")
            if st["step"] % max(1, self.total // 20) == 0 or st["step"] == self.total:
                _log(f"step {st['step']}/{self.total} loss {rec['loss']:.3f} ce {rec['ce']:.3f} "
                     f"lambda {rec['lam']:.3f} acc {rec['pair_acc']:.2f} ({rec['time_s']:.0f} s)")
        if st["step"] % self.tc.checkpoint_every == 0 or st["step"] == self.total:
            self.checkpoint({k: rec[k] for k in ("step", "loss", "ce", "pair_acc")})

    def checkpoint(self, metrics: dict) -> None:
        """Every rank saves its part into a local directory; Ray Train merges the uploads."""
        if self.rank == 0:
            self.write_state()
        tmp = tempfile.mkdtemp(prefix=f"w2s-ckpt-r{self.rank}-")
        try:
            self.engine.save(tmp, self.state)
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def write_state(self) -> None:
        uri.write_parquet(self.run_dir.curves(self.name), pd.DataFrame(self.state["history"]))
        uri.write_json(self.run_dir.train_state(self.name),
                       {k: v for k, v in self.state.items() if k != "history"})

    def epoch(self) -> None:
        batches = 0
        for batch in self.shard.iter_batches(batch_size=self.tc.batch_size, batch_format="numpy", drop_last=True,
                                             local_shuffle_buffer_size=self.shuffle_rows or None,
                                             local_shuffle_seed=self.tc.seed + self.state["epoch"]):
            batches += 1
            if self.micro_step(batch):
                self.end_step()
                if self.state["step"] >= self.total:
                    return
        if batches == 0:
            raise RuntimeError("the training dataset produced no batch: every pair failed to decode, or "
                               "fewer pairs than batch_size x num_workers")
        self.state["epoch"] += 1

    def run(self) -> None:
        self.restore()
        while self.state["step"] < self.total:
            self.epoch()
        if self.probe is None:  # resumed at the end: one batch for the export check
            x = self.batcher(next(iter(self.shard.iter_batches(batch_size=self.tc.batch_size,
                                                                batch_format="numpy"))))
            self.probe = {k: x[k] for k in ("input_ids", "attention_mask", "videos")}
        if self.rank == 0:
            self.write_state()
        export_model(self.engine, self.student, self.tok, self.processor, self.probe, self.run_dir, self.name,
                     self.rank)


def run_worker(config: dict) -> None:
    Worker(config).run()
