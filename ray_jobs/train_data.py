"""train_student's data: which pairs can train (both videos have motion features),
the step budget, and the Ray Data pipeline pairs x motion -> decoded examples that
the Ray Train workers stream with `get_dataset_shard("train")`."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, fields

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from w2s.rundir import RunDir
from w2s.student.examples import featurize_pairs
from w2s.student.mirror import canonical_pairs

log = logging.getLogger(__name__)


@dataclass
class TrainPlan:
    """What train_student will do: the pairs, the motion join and the step budget (stage.json has
    every field but the index and the bad URIs)."""
    index: pd.DataFrame  # the pairs (canonical when mirrored): first_uri, second_uri, label
    motion_join: str  # broadcast or hash
    motion_mb: float
    pairs: int
    usable: int  # pairs whose two videos have motion features
    dropped: int
    bad_uris: list[str]  # videos without motion features
    steps_per_epoch: int
    total_steps: int
    pairs_per_step: int
    videos_over_max_frames: int
    shuffle_rows: int

    def record(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("index", "bad_uris")}


def plan(cfg, run_dir: RunDir, world: int) -> TrainPlan:
    """Pairs whose two videos have motion features, the dropped ones, and the step budget."""
    tc = cfg.train
    pairs = run_dir.read_pairs(tc.pairs, columns=["first_uri", "second_uri", "label"])
    if tc.mirror_pairs:
        pairs = canonical_pairs(pairs)
    motion = run_dir.motion_index()
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
    used = motion[motion["uri"].isin(set(pairs["first_uri"]) | set(pairs["second_uri"]))]
    motion_mb = float(used["num_chunks"].sum()) * 1024 / 2**20
    capped = int((used["num_chunks"] > tc.max_frames).sum())  # longer than max_frames seconds
    join = tc.motion_join if tc.motion_join != "auto" else (
        "broadcast" if motion_mb <= tc.broadcast_limit_mb else "hash")
    return TrainPlan(index=pairs, motion_join=join, motion_mb=round(motion_mb, 2), pairs=len(pairs),
                     usable=int(good.sum()), dropped=len(dropped), bad_uris=bad_uris, steps_per_epoch=steps_per_epoch,
                     total_steps=total, pairs_per_step=per_step, videos_over_max_frames=capped,
                     shuffle_rows=_shuffle_rows(tc, int(good.sum()), world))


def _shuffle_rows(tc, usable: int, world: int) -> int:
    """Rows of each worker's local shuffle buffer. With the examples materialized (in the object
    store already) it holds the worker's whole shard, so every epoch is a fresh, seeded permutation:
    the order examples arrive in is fixed (preserve_order), this is what varies it per epoch."""
    if tc.shuffle_buffer == 0:
        return 0
    return max(tc.shuffle_buffer, math.ceil(usable / world)) if tc.materialize else tc.shuffle_buffer


def _motion_ok(t: pa.Table) -> pa.Table:
    return t.filter(pc.is_null(t["error"])).select(["uri", "features"])


def _featurize_ok(batch: pd.DataFrame, size: int, max_frames: int, sampling: str) -> pa.Table:
    t = featurize_pairs(batch, size, max_frames, sampling)
    for r in t.filter(pc.is_valid(t["error"])).to_pylist():
        log.warning("pair dropped (%s | %s): %s", r["first_uri"], r["second_uri"], r["error"])
    return t.filter(pc.is_null(t["error"]))


_BROADCAST: dict = {}  # per worker process: the broadcast motion table, fetched once


def _featurize_broadcast(batch: pd.DataFrame, size: int, max_frames: int, sampling: str,
                         motion_ref: list) -> pa.Table:
    import ray

    key = motion_ref[0].hex()
    if key not in _BROADCAST:
        _BROADCAST.clear()
        _BROADCAST[key] = ray.get(motion_ref[0])
    motion = _BROADCAST[key]
    batch = batch[batch["first_uri"].isin(motion) & batch["second_uri"].isin(motion)].copy()
    batch["first_motion"] = [motion[u] for u in batch["first_uri"]]
    batch["second_motion"] = [motion[u] for u in batch["second_uri"]]
    return _featurize_ok(batch, size, max_frames, sampling)


def _hash_join(ds, cfg, run_dir: RunDir):
    """A Ray Data hash join of the pairs with the motion cache on both URIs (any size)."""
    import ray.data

    motion = (ray.data.read_parquet(run_dir.motion(), file_extensions=["parquet"])
              .select_columns(["uri", "features", "error"])
              .map_batches(_motion_ok, batch_format="pyarrow"))
    for side in ("first", "second"):
        right = motion.rename_columns({"uri": f"{side}_uri", "features": f"{side}_motion"})
        ds = ds.join(right, "inner", num_partitions=cfg.train.join_partitions, on=(f"{side}_uri",))
    return ds.repartition(target_num_rows_per_block=cfg.train.decode_batch_size)


def build_dataset(cfg, run_dir: RunDir, pairs: pd.DataFrame, image_size: int, broadcast: bool):
    """Pairs -> (join motion) -> decode key frames, streamed. `broadcast`: the used motion rows
    go to the object store once and each decode task looks them up (small runs: no shuffle);
    otherwise a Ray Data hash join on both URIs."""
    import ray
    import ray.data

    tc = cfg.train
    # The pair index (three strings per pair) is small: split it into blocks here so the decode
    # tasks start at once (a read + repartition blocks the stream for ~20 s on a small box).
    pairs = pairs.sample(frac=1.0, random_state=tc.seed).reset_index(drop=True)  # global shuffle
    rows = max(tc.decode_batch_size, math.ceil(len(pairs) / 2000))
    ds = ray.data.from_pandas([pairs.iloc[i: i + rows] for i in range(0, len(pairs), rows)])
    # the order examples are made in (and split to the workers in) is the same on every run
    ds.context.execution_options.preserve_order = tc.preserve_order
    kwargs = {"size": image_size, "max_frames": tc.max_frames, "sampling": tc.frame_sampling}
    if broadcast:
        fn, kwargs["motion_ref"] = _featurize_broadcast, [ray.put(run_dir.motion_bytes())]
    else:
        fn, ds = _featurize_ok, _hash_join(ds, cfg, run_dir)
    return ds.map_batches(fn, batch_format="pandas", batch_size=tc.decode_batch_size,
                          num_cpus=tc.decode_num_cpus, fn_kwargs=kwargs)
