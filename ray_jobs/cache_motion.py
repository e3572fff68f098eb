"""Stage `cache_motion`: SlowFast fast-pathway features, once per video of the pairs dataset.

    python -m ray_jobs cache_motion --config configs/demo.yaml [--iteration N]

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

from ray_jobs.base import RowStage, iteration_record
from ray_jobs.console import console
from ray_jobs.runtime import gpus_per_actor
from w2s.student.motion import RANDOM_INIT_WARNING, MotionExtractor
from w2s.video import VideoDecodeError


class CacheMotion(RowStage):
    name, iterative, actors, ray_name = "cache_motion", True, True, "MotionActor"
    schema = pa.schema([("uri", pa.string()), ("num_chunks", pa.int32()), ("features", pa.binary()),
                        ("random_init", pa.bool_()), ("error", pa.string())])
    summary_columns = ("num_chunks", "random_init")  # not the features: the whole cache on the driver

    def record_name(self, cfg):
        return iteration_record(cfg)

    def resources(self, cfg):
        return cfg.motion.model_copy(update={"num_gpus": gpus_per_actor(cfg.motion.num_gpus)})

    def source(self, ctx):
        if ctx.cfg.motion.checkpoint is None:
            console.warn(RANDOM_INIT_WARNING)  # terminal and log
        pairs = ctx.run_dir.read_pairs(ctx.cfg.motion.pairs, stage=ctx.cfg.iteration,
                                       columns=["first_uri", "second_uri"])
        return sorted(set(pairs["first_uri"]) | set(pairs["second_uri"]))

    def output(self, ctx):
        return ctx.run_dir.motion()

    def params(self, cfg):
        mc = cfg.motion
        return {"checkpoint": mc.checkpoint, "size": mc.size, "chunks_per_forward": mc.chunks_per_forward,
                "max_seconds": mc.max_seconds}

    def rows_per_file(self, cfg):
        return 64

    def setup(self, checkpoint, size, chunks_per_forward, max_seconds=None):
        self.extractor = MotionExtractor(checkpoint, size=size, batch_size=chunks_per_forward)
        self.max_seconds = max_seconds

    def process(self, batch: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for video in batch["uri"]:
            try:
                f = self.extractor.features(video, self.max_seconds)
                rows.append((video, len(f), f.tobytes(), self.extractor.random_init, None))
            except VideoDecodeError as e:
                rows.append((video, 0, None, self.extractor.random_init, e.reason))
        return pd.DataFrame(rows, columns=self.schema.names)

    def report(self, ctx, table, n_in, n_done):
        mc, gpus = ctx.cfg.motion, self.resources(ctx.cfg).num_gpus
        random_init = bool(table["random_init"].any()) if len(table) else mc.checkpoint is None
        chunks = int(table["num_chunks"].sum()) if len(table) else 0
        ctx.rows.update({
            "videos in pairs": n_in, "already done (skipped)": n_done, "cached": len(table) - ctx.failed,
            "failed": ctx.failed, "1-s chunks": chunks,
            "weights": ("RANDOM INIT (demo/tests only!)" if random_init else mc.checkpoint),
            "frame size / GPUs per actor": f"{mc.size} / {gpus}", "output": ctx.run_dir.motion()})
        return {"inputs": n_in, "already_done": n_done, "outputs": len(table), "failures": ctx.failed,
                "random_init": random_init, "checkpoint": mc.checkpoint, "size": mc.size,
                "gpus_per_actor": gpus, "chunks": chunks}


STAGE, SCHEMA = CacheMotion, CacheMotion.schema
run = STAGE().run  # run(cfg) -> dict: the stage from Python

if __name__ == "__main__":  # the same as `python -m ray_jobs cache_motion`
    STAGE.main()
