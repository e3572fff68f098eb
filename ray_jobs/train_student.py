"""Stage `train_student`: the pair student trained with Ray Train + DeepSpeed ZeRO.

    python -m ray_jobs train_student --config configs/demo.yaml [--iteration N] [--set train.zero_stage=2]

Stage N (default 1) trains on pairs/stage<N> and exports student/stage<N>; for N > 1
it starts from the exported stage N-1 student (train.init_from overrides that).

Data streams through Ray Data (train_data.py): the pairs are joined with the
cached motion features of both videos, key frames are decoded in CPU tasks, and
each worker reads its shard with `ray.train.get_dataset_shard`. Workers
(train_worker.py) run DeepSpeed (ZeRO-2/3; DS_ACCELERATOR=cpu and gloo without
GPUs) or plain DDP (`train.strategy: ddp`), with the confidence loss of
METHOD.md. Checkpoints (DeepSpeed shards from every worker) are reported every
`train.checkpoint_every` steps; re-running with the same `train.name` and
storage resumes from the latest one, and `train.max_failures` worker-group
restarts happen automatically. The final model is exported in Hugging Face
format to <run_dir>/student/<name> (train_export.py); curves (parquet + PNG) and
stage.json go to <run_dir>/train_student/<name>/.
"""

from __future__ import annotations

import time

import pandas as pd

from ray_jobs.base import Stage
from ray_jobs.console import console
from ray_jobs.progress import Tracker
from ray_jobs.train_data import TrainPlan, build_dataset, plan
from ray_jobs.train_export import verify_export
from w2s import rundir, uri
from w2s.config import stage_name
from w2s.student.curves import plot_curves


def train_loop(config: dict) -> None:
    """The Ray Train worker entry point."""
    from w2s.student.dsops import prepare

    prepare()  # before deepspeed is imported: the CPU accelerator, this environment's op cache
    from ray_jobs.train_worker import run_worker

    run_worker(config)


def _trainer(cfg, run_dir: rundir.RunDir, p: TrainPlan, gpus: float, progress):
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    tc = cfg.train
    image_size = _input_size(cfg)
    ds = build_dataset(cfg, run_dir, p.index, image_size, broadcast=p.motion_join == "broadcast")
    if tc.materialize:  # decode once, keep the examples in the object store for every epoch
        console.print(f"  decoding the key frames of {p.usable} pairs once (train.materialize) ...")
        ds = ds.materialize()
    ingest = DataConfig.default_ingest_options()
    ingest.preserve_order = tc.preserve_order  # the split across workers is then the same on every run
    return TorchTrainer(
        train_loop,
        train_loop_config={"cfg": cfg.model_dump(), "total_steps": p.total_steps, "progress": progress,
                           "shuffle_rows": p.shuffle_rows},
        scaling_config=ScalingConfig(num_workers=tc.num_workers, use_gpu=bool(gpus), resources_per_worker={
            "CPU": tc.num_cpus, **({"GPU": gpus} if gpus else {}),
            **({"memory": tc.memory_mb * 2**20} if tc.memory_mb else {})}),
        run_config=RunConfig(name=tc.name, storage_path=tc.storage or run_dir.train_storage(),
                             checkpoint_config=CheckpointConfig(num_to_keep=tc.keep_checkpoints),
                             failure_config=FailureConfig(max_failures=tc.max_failures)),
        datasets={"train": ds}, dataset_config=DataConfig(execution_options=ingest),
    )


def _input_size(cfg) -> int:
    """The vision input size: the initialising student's, the paper's 384, or the tiny preset's."""
    if cfg.train.init_from:
        return int(uri.read_json(uri.join(cfg.train.init_from, "config.json"))["vision_config"]["image_size"])
    return 384 if cfg.student.preset == "paper" else cfg.student.image_size


def _finish(cfg, run_dir: rundir.RunDir, p: TrainPlan, result, use_gpu: bool, train_s: float) -> dict:
    """Curves PNG, export check and the stage.json fields after fit()."""
    tc = cfg.train
    history = uri.read_parquet(run_dir.curves(tc.name))
    state = uri.read_json(run_dir.train_state(tc.name)) or {}
    png = None
    if len(history):
        engine = tc.strategy + (f"-zero{tc.zero_stage}" if tc.strategy == "deepspeed" else "")
        png = plot_curves(history, run_dir.curves(tc.name, png=True),
                          f"student {tc.name}: {cfg.student.preset}, {engine}")
    tail = history.tail(max(1, len(history) // 10))
    return dict(
        **p.record(), failures=len(p.bad_uris),
        steps_done=int(history["step"].max()) if len(history) else 0, steps_logged=len(history),
        resumed_from=state.get("resumed_from", []), attempts=len(state.get("resumed_from", [])) + 1,
        final_loss=float(tail["loss"].mean()) if len(tail) else None,
        final_pair_acc=float(tail["pair_acc"].mean()) if len(tail) else None,
        train_seconds=round(train_s, 1), export=run_dir.student(tc.name), curves=png,
        export_max_abs_diff=verify_export(run_dir, tc.name) if tc.verify_export else None,
        checkpoint=str(result.checkpoint.path) if result.checkpoint else None, use_gpu=use_gpu)


def for_this_stage(cfg, run_dir: rundir.RunDir):
    """train.name / pairs / init_from made concrete for `cfg.iteration`: stage N trains student/stage<N>
    on pairs/stage<N>, starting from student/stage<N-1> when N > 1."""
    tc, n = cfg.train, cfg.iteration
    init = tc.init_from or (run_dir.student(stage_name(n - 1)) if n > 1 else None)
    return cfg.model_copy(update={"train": tc.model_copy(update={
        "name": cfg.student_name, "pairs": tc.pairs or run_dir.pairs(n), "init_from": init})})


class TrainStudent(Stage):
    name, iterative = "train_student", True

    def run(self, cfg) -> dict:
        return super().run(for_this_stage(cfg.with_absolute_paths(), rundir.RunDir(cfg.run_dir)))  # workers run elsewhere

    def check(self, ctx):
        cfg = ctx.cfg
        if cfg.train.init_from:
            ctx.run_dir.require(uri.join(cfg.train.init_from, "config.json"),
                                f"exported student to start from ({cfg.train.init_from})",
                                f"{self.name} --iteration {cfg.iteration - 1}" if cfg.iteration > 1 else self.name)

    def execute(self, ctx):
        import ray

        from ray_jobs.runtime import gpus_per_actor

        cfg, run_dir, tc = ctx.cfg, ctx.run_dir, ctx.cfg.train
        p = plan(cfg, run_dir, tc.num_workers)
        ctx.fail(pd.DataFrame({"uri": p.bad_uris, "reason": "no motion features (failed or missing in cache_motion)"}))
        if p.videos_over_max_frames:
            how = "their first" if tc.frame_sampling == "first" else "spread over their length:"
            console.warn(f"{p.videos_over_max_frames} videos are longer than train.max_frames = {tc.max_frames} s: "
                         f"{how} {tc.max_frames} key frames are used (train.frame_sampling: {tc.frame_sampling})")
        gpus = gpus_per_actor(tc.num_gpus) if ray.is_initialized() else float(tc.num_gpus or 0)
        t0 = time.time()
        with Tracker(p.total_steps, f"{self.name} {tc.name}", "steps") as progress:
            result = _trainer(cfg, run_dir, p, gpus, progress.handle).fit()
        info = _finish(cfg, run_dir, p, result, bool(gpus), time.time() - t0)
        ctx.rows.update(_summary(cfg, run_dir, p, info, bool(gpus)))
        return info


STAGE = TrainStudent
run = STAGE().run  # run(cfg) -> dict: the stage from Python



def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _summary(cfg, run_dir: rundir.RunDir, p: TrainPlan, info: dict, use_gpu: bool) -> dict:
    tc, check = cfg.train, info["export_max_abs_diff"]
    return {
        "started from": tc.init_from or f"a new {cfg.student.preset} student (seed {cfg.student.seed})",
        "pairs (usable / dropped)": f"{p.usable} / {p.dropped}",
        "motion join": f"{p.motion_join} ({p.motion_mb} MB of features)",
        "key frames per video": f"<= {tc.max_frames} ({tc.frame_sampling}); "
                                f"{p.videos_over_max_frames} videos longer than that",
        "workers / strategy": f"{tc.num_workers} x {'GPU' if use_gpu else 'CPU'} / {tc.strategy}"
                              + (f" ZeRO-{tc.zero_stage}" if tc.strategy == "deepspeed" else ""),
        "steps (done / planned)": f"{info['steps_done']} / {p.total_steps}  "
                                  f"({p.pairs_per_step} pairs per step"
                                  + (", each in both orders)" if tc.mirror_pairs else ")"),
        "resumed from step(s)": info["resumed_from"] or "-",
        "final loss (last 10 %)": _fmt(info["final_loss"]),
        "pair accuracy (last 10 %)": _fmt(info["final_pair_acc"]),
        "exported model": info["export"] + ("" if check is None else f"  (reload max |diff| {check:.2e})"),
        "curves": info["curves"] or run_dir.train_dir(tc.name)}

if __name__ == "__main__":  # the same as `python -m ray_jobs train_student`
    STAGE.main()
