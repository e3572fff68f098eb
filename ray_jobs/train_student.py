"""Stage `train_student`: the pair student trained with Ray Train + DeepSpeed ZeRO.

    python -m ray_jobs.train_student --config configs/demo.yaml [--set train.zero_stage=2]

Data streams through Ray Data: the pairs are joined with the cached motion
features of both videos (hash join on the URIs), key frames are decoded in CPU
tasks, and each worker reads its shard with `ray.train.get_dataset_shard`.
Workers run DeepSpeed (ZeRO-2/3; DS_ACCELERATOR=cpu and gloo without GPUs) or
plain DDP (`train.strategy: ddp`), with the confidence loss of METHOD.md.
Checkpoints (DeepSpeed shards from every worker) are reported every
`train.checkpoint_every` steps; re-running with the same `train.name` and
storage resumes from the latest one, and `train.max_failures` worker-group
restarts happen automatically. The final model is exported in Hugging Face
format to <run_dir>/student/<name>; curves (parquet + PNG) and stage.json go
to <run_dir>/train_student/<name>/.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ray_jobs.common import stage_main, summary
from w2s import rundir
from w2s.student.data import canonical_pairs, featurize_pairs

STAGE = "train_student"
log = logging.getLogger(STAGE)


# -- Ray Data: pairs x motion -> decoded examples -------------------------------------------------
def _motion_ok(t: pa.Table) -> pa.Table:
    return t.filter(pc.is_null(t["error"])).select(["uri", "features"])


def _featurize_ok(batch: pd.DataFrame, size: int, max_frames: int) -> pa.Table:
    t = featurize_pairs(batch, size, max_frames)
    bad = t.filter(pc.is_valid(t["error"]))
    for r in bad.to_pylist():
        logging.getLogger(STAGE).warning("pair dropped (%s | %s): %s", r["first_uri"], r["second_uri"], r["error"])
    return t.filter(pc.is_null(t["error"]))


_BROADCAST: dict = {}  # per worker process: the broadcast motion table, fetched once


def _featurize_broadcast(batch: pd.DataFrame, size: int, max_frames: int, motion_ref: list) -> pa.Table:
    import ray

    key = motion_ref[0].hex()
    if key not in _BROADCAST:
        _BROADCAST.clear()
        _BROADCAST[key] = ray.get(motion_ref[0])
    motion = _BROADCAST[key]
    batch = batch[batch["first_uri"].isin(motion) & batch["second_uri"].isin(motion)].copy()
    batch["first_motion"] = [motion[u] for u in batch["first_uri"]]
    batch["second_motion"] = [motion[u] for u in batch["second_uri"]]
    return _featurize_ok(batch, size, max_frames)


def build_dataset(cfg, pairs: pd.DataFrame, image_size: int, broadcast: bool):
    """Pairs -> (join motion) -> decode key frames, streamed. `broadcast`: the used motion rows
    go to the object store once and each decode task looks them up (small runs: no shuffle);
    otherwise a Ray Data hash join on both URIs (any size)."""
    import ray
    import ray.data

    tc = cfg.train
    # The pair index (three strings per pair) is small: split it into blocks here so the decode
    # tasks start at once (a read + repartition blocks the stream for ~20 s on a small box).
    pairs = pairs.sample(frac=1.0, random_state=tc.seed).reset_index(drop=True)  # global shuffle
    rows = max(tc.decode_batch_size, math.ceil(len(pairs) / 2000))
    ds = ray.data.from_pandas([pairs.iloc[i: i + rows] for i in range(0, len(pairs), rows)])
    kwargs = {"size": image_size, "max_frames": tc.max_frames}
    if broadcast:
        t = rundir.read_table(rundir.join(cfg.run_dir, "motion"), columns=["uri", "features", "error"])
        table = dict(zip(t.loc[t["error"].isna(), "uri"], t.loc[t["error"].isna(), "features"], strict=True))
        fn, kwargs["motion_ref"] = _featurize_broadcast, [ray.put(table)]
    else:
        motion = (ray.data.read_parquet(rundir.join(cfg.run_dir, "motion"), file_extensions=["parquet"])
                  .select_columns(["uri", "features", "error"])
                  .map_batches(_motion_ok, batch_format="pyarrow"))
        for side in ("first", "second"):
            right = motion.rename_columns({"uri": f"{side}_uri", "features": f"{side}_motion"})
            ds = ds.join(right, "inner", num_partitions=tc.join_partitions, on=(f"{side}_uri",))
        ds = ds.repartition(target_num_rows_per_block=tc.decode_batch_size)
        fn = _featurize_ok
    return ds.map_batches(fn, batch_format="pandas", batch_size=tc.decode_batch_size,
                          num_cpus=tc.decode_num_cpus, fn_kwargs=kwargs)


def plan(cfg, pairs_path: str, world: int) -> dict:
    """Pairs whose two videos have motion features, the dropped ones, and the step budget."""
    tc = cfg.train
    pairs = pd.read_parquet(pairs_path, columns=["first_uri", "second_uri", "label"])
    if tc.mirror_pairs:
        pairs = canonical_pairs(pairs)
    motion = rundir.read_table(rundir.join(cfg.run_dir, "motion"), columns=["uri", "num_chunks", "error"])
    if motion.empty:
        raise SystemExit(f"no motion features under {cfg.run_dir}/motion: run ray_jobs.cache_motion first")
    ok = set(motion.loc[motion["error"].isna(), "uri"])
    good = pairs["first_uri"].isin(ok) & pairs["second_uri"].isin(ok)
    dropped = pairs[~good]
    bad_uris = sorted((set(dropped["first_uri"]) | set(dropped["second_uri"])) - ok)
    per_step = tc.batch_size * tc.grad_accum * world
    steps_per_epoch = int(good.sum()) // per_step
    if steps_per_epoch == 0 and not tc.max_steps:
        raise SystemExit(f"{int(good.sum())} usable pairs: fewer than one step of {per_step} "
                         "(batch_size x grad_accum x num_workers)")
    total = tc.max_steps or max(1, math.ceil(tc.epochs * steps_per_epoch))
    used = set(pairs["first_uri"]) | set(pairs["second_uri"])
    motion_mb = float(motion.loc[motion["uri"].isin(used), "num_chunks"].sum()) * 1024 / 2**20
    join = tc.motion_join if tc.motion_join != "auto" else (
        "broadcast" if motion_mb <= tc.broadcast_limit_mb else "hash")
    return {"index": pairs, "motion_join": join, "motion_mb": round(motion_mb, 2),"pairs": len(pairs), "usable": int(good.sum()), "dropped": len(dropped), "bad_uris": bad_uris,
            "steps_per_epoch": steps_per_epoch, "total_steps": total, "pairs_per_step": per_step}


# -- the worker loop --------------------------------------------------------------------------------
def train_loop(config: dict) -> None:
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # before deepspeed is imported
    from ray_jobs.train_worker import run_worker

    run_worker(config)


# -- the driver ----------------------------------------------------------------------------------
def _storage(cfg) -> str:
    s = cfg.train.storage or rundir.join(cfg.run_dir, STAGE, "ray")
    return s if "://" in s else os.path.abspath(s)


def run(cfg) -> dict:
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from w2s.student.curves import plot_curves

    cfg = absolute_paths(cfg)  # workers run in their own directory
    tc = cfg.train
    record = rundir.StageRecord(rundir.join(cfg.run_dir, STAGE), tc.name, cfg.model_dump())
    pairs_path = tc.pairs or rundir.join(cfg.run_dir, "pairs", "stage1", "pairs.parquet")
    p = plan(cfg, pairs_path, tc.num_workers)
    if p["bad_uris"]:
        rundir.write_failures(cfg.run_dir, STAGE, pd.DataFrame(
            {"uri": p["bad_uris"], "reason": "no motion features (failed or missing in cache_motion)"}))
    use_gpu = tc.use_gpu if tc.use_gpu is not None else bool(ray.cluster_resources().get("GPU", 0))
    image_size = 384 if cfg.student.preset == "paper" else cfg.student.image_size
    ds = build_dataset(cfg, p["index"], image_size, broadcast=p["motion_join"] == "broadcast")
    if tc.materialize:  # decode once, keep the examples in the object store for every epoch
        print(f"decoding the key frames of {p['usable']} pairs once (train.materialize) ...", flush=True)
        ds = ds.materialize()
    out_dir = rundir.join(cfg.run_dir, STAGE, tc.name)
    export = rundir.join(cfg.run_dir, "student", tc.name)
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={"cfg": cfg.model_dump(), "total_steps": p["total_steps"],
                           "out_dir": out_dir, "export": export},
        scaling_config=ScalingConfig(num_workers=tc.num_workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": tc.cpus_per_worker}),
        run_config=RunConfig(name=tc.name, storage_path=_storage(cfg),
                             checkpoint_config=CheckpointConfig(num_to_keep=tc.keep_checkpoints),
                             failure_config=FailureConfig(max_failures=tc.max_failures)),
        datasets={"train": ds},
    )
    t0 = time.time()
    result = trainer.fit()
    history = rundir.read_parquet(rundir.join(out_dir, "curves.parquet"))
    state = rundir.read_json(rundir.join(out_dir, "train_state.json")) or {}
    png = None
    if "://" not in out_dir and len(history):
        png = os.path.join(out_dir, "curves.png")
        plot_curves(history, png, f"student {tc.name}: {cfg.student.preset}, "
                                  f"{tc.strategy}{'-zero' + str(tc.zero_stage) if tc.strategy == 'deepspeed' else ''}")
    check = verify_export(export, out_dir) if tc.verify_export else None
    tail = history.tail(max(1, len(history) // 10))
    info = record.finish(
        **{k: v for k, v in p.items() if k not in ("bad_uris", "index")}, failures=len(p["bad_uris"]),
        steps_done=int(history["step"].max()) if len(history) else 0, steps_logged=len(history),
        resumed_from=state.get("resumed_from", []), attempts=len(state.get("resumed_from", [])) + 1,
        final_loss=float(tail["loss"].mean()) if len(tail) else None,
        final_pair_acc=float(tail["pair_acc"].mean()) if len(tail) else None,
        train_seconds=round(time.time() - t0, 1), export=export, curves=png, export_max_abs_diff=check,
        checkpoint=str(result.checkpoint.path) if result.checkpoint else None, use_gpu=use_gpu)
    summary(f"stage {STAGE}: {tc.name} ({cfg.run_dir})", {
        "pairs (usable / dropped)": f"{p['usable']} / {p['dropped']}",
        "motion join": f"{p['motion_join']} ({p['motion_mb']} MB of features)",
        "workers / strategy": f"{tc.num_workers} x {'GPU' if use_gpu else 'CPU'} / {tc.strategy}"
                              + (f" ZeRO-{tc.zero_stage}" if tc.strategy == "deepspeed" else ""),
        "steps (done / planned)": f"{info['steps_done']} / {p['total_steps']}  "
                                  f"({p['pairs_per_step']} pairs per step"
                                  + (", each in both orders)" if tc.mirror_pairs else ")"),
        "resumed from step(s)": info["resumed_from"] or "-",
        "final loss (last 10 %)": _fmt(info["final_loss"]),
        "pair accuracy (last 10 %)": _fmt(info["final_pair_acc"]),
        "exported model": export + ("" if check is None else f"  (reload max |diff| {check:.2e})"),
        "curves": png or out_dir, "duration": f"{info['duration_s']} s"})
    return info


def absolute_paths(cfg):
    """Local paths made absolute (Ray Train workers do not run in the driver's directory)."""
    def fix(p, must_exist=False):
        if p is None or "://" in p or (must_exist and not os.path.exists(p)):
            return p
        return os.path.abspath(p)

    data = cfg.model_dump()
    data["run_dir"], data["manifest"] = fix(cfg.run_dir), fix(cfg.manifest)
    data["train"]["pairs"], data["train"]["storage"] = fix(cfg.train.pairs), fix(cfg.train.storage)
    data["student"]["path"] = fix(cfg.student.path, must_exist=True)
    return type(cfg).model_validate(data)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def verify_export(export: str, out_dir: str) -> float | None:
    """Reload the exported model and compare its logits on the saved probe batch."""
    import torch

    from w2s.student.model import W2SStudent

    fsys, path = rundir.filesystem(rundir.join(out_dir, "export_check.pt"))
    if fsys.get_file_info(path).type.name == "NotFound":
        return None
    with fsys.open_input_stream(path) as fh, tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "check.pt")
        with open(local, "wb") as out:
            out.write(fh.read())
        probe = torch.load(local, map_location="cpu", weights_only=False)
        src = export
        if "://" in export:
            src = os.path.join(tmp, "model")
            rundir.download_dir(export, src)
        model = W2SStudent.from_pretrained(src).eval()
        with torch.no_grad():
            logits = model.forward_pairs(probe["input_ids"], probe["attention_mask"], probe["videos"])
    return float((logits.float() - probe["logits"].float()).abs().max())


def main(argv=None) -> None:
    stage_main(STAGE, __doc__, run, argv)


if __name__ == "__main__":
    # run the imported module, so Ray pickles its functions by reference (not from __main__)
    from ray_jobs.train_student import main as _main

    _main()
