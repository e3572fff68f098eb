"""Stage `cache_motion`: SlowFast fast-pathway features, once per video of the pairs dataset.

    python -m ray_jobs cache_motion --config configs/demo.yaml [--stage N]

Stage N reads pairs/stage<N>: only its videos not cached yet are computed (mined
stages add fresh renders; the gMAD videos are mostly cached already).

Every video named in the pairs (sources and rendered distortions) gets a
(seconds x 256) float32 array, stored as bytes in <run_dir>/motion/*.parquet
(uri, num_chunks, features, random_init, error). Runs on an actor pool (one GPU
per actor when the cluster has GPUs); resumable; bad videos go to
failures/cache_motion.parquet. Random weights (no motion.checkpoint) are
reported loudly in the log, the summary and stage.json.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from ray_jobs.console import console
from ray_jobs.progress import Tracker, tick
from ray_jobs.runtime import actor_resources, gpus_per_actor
from w2s import rundir
from w2s.config import stage_name
from w2s.student.motion import RANDOM_INIT_WARNING, MotionExtractor
from w2s.video import VideoDecodeError

STAGE = "cache_motion"
SCHEMA = pa.schema([("uri", pa.string()), ("num_chunks", pa.int32()), ("features", pa.binary()),
                    ("random_init", pa.bool_()), ("error", pa.string())])


class MotionActor:
    def __init__(self, checkpoint, size, batch_size, max_seconds=None, progress=None):
        self.extractor = MotionExtractor(checkpoint, size=size, batch_size=batch_size)
        self.progress, self.max_seconds = progress, max_seconds

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        rows = []
        for video in batch["uri"]:
            try:
                f = self.extractor.features(video, self.max_seconds)
                rows.append((video, len(f), f.tobytes(), self.extractor.random_init, None))
            except VideoDecodeError as e:
                rows.append((video, 0, None, self.extractor.random_init, e.reason))
        tick(self.progress, len(rows))
        return pa.Table.from_pandas(pd.DataFrame(rows, columns=SCHEMA.names), schema=SCHEMA,
                                    preserve_index=False)


def run(cfg) -> dict:
    import ray
    import ray.data

    run_dir = rundir.RunDir(cfg.run_dir)
    record = run_dir.record(STAGE, cfg.model_dump(), name=stage_name(cfg.stage))
    mc = cfg.motion
    if mc.checkpoint is None:
        console.warn(RANDOM_INIT_WARNING)  # terminal and log
    pairs = run_dir.read_pairs(mc.pairs, stage=cfg.stage, columns=["first_uri", "second_uri"])
    uris = sorted(set(pairs["first_uri"]) | set(pairs["second_uri"]))
    out = run_dir.motion()
    done = set(rundir.done_uris(out))
    todo = [u for u in uris if u not in done]
    gpus = gpus_per_actor(mc.num_gpus)
    if todo:
        with Tracker(len(todo), STAGE) as progress:
            ds = ray.data.from_items([{"uri": u} for u in todo])
            ds = ds.repartition(target_num_rows_per_block=mc.videos_per_batch)
            ds = ds.map_batches(MotionActor, batch_format="pandas", batch_size=mc.videos_per_batch,
                                fn_constructor_kwargs={"checkpoint": mc.checkpoint, "size": mc.size,
                                                       "batch_size": mc.batch_size, "max_seconds": mc.max_seconds,
                                                       "progress": progress.handle},
                                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=mc.max_actors),
                                **actor_resources(mc.num_cpus, gpus, mc.memory_mb))
            ds.write_parquet(out, min_rows_per_file=64)
    table = rundir.read_table(out)
    bad = table[table["error"].notna()]
    run_dir.write_failures(STAGE, bad.rename(columns={"error": "reason"}))
    random_init = bool(table["random_init"].any()) if len(table) else mc.checkpoint is None
    info = record.finish(inputs=len(uris), already_done=len(uris) - len(todo), outputs=len(table),
                         failures=len(bad), random_init=random_init, checkpoint=mc.checkpoint,
                         size=mc.size, gpus_per_actor=gpus,
                         chunks=int(table["num_chunks"].sum()) if len(table) else 0)
    console.summary(f"stage {STAGE}: {run_dir.root}", {
        "videos in pairs": len(uris), "already done (skipped)": len(uris) - len(todo),
        "cached": len(table) - len(bad), "failed": len(bad), "1-s chunks": info["chunks"],
        "weights": ("RANDOM INIT (demo/tests only!)" if random_init else mc.checkpoint),
        "frame size / GPUs per actor": f"{mc.size} / {gpus}", "duration": f"{info['duration_s']} s",
        "output": out})
    return info


if __name__ == "__main__":  # the same as `python -m ray_jobs cache_motion`
    from ray_jobs.cli import stage_main

    stage_main(STAGE)
