"""Stage `cache_motion`: SlowFast fast-pathway features, once per video of the pairs dataset.

    python -m ray_jobs.cache_motion --config configs/demo.yaml

Every video named in the pairs (sources and rendered distortions) gets a
(seconds x 256) float32 array, stored as bytes in <run_dir>/motion/*.parquet
(uri, num_chunks, features, random_init, error). Runs on an actor pool (one GPU
per actor when the cluster has GPUs); resumable; bad videos go to
failures/cache_motion.parquet. Random weights (no motion.checkpoint) are
reported loudly in the log, the summary and stage.json.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from ray_jobs.common import stage_main, summary
from w2s import rundir
from w2s.student.motion import FEATURE_DIM, RANDOM_INIT_WARNING, MotionExtractor
from w2s.video import VideoDecodeError

STAGE = "cache_motion"
SCHEMA = pa.schema([("uri", pa.string()), ("num_chunks", pa.int32()), ("features", pa.binary()),
                    ("random_init", pa.bool_()), ("error", pa.string())])


class MotionActor:
    def __init__(self, checkpoint, size, batch_size):
        self.extractor = MotionExtractor(checkpoint, size=size, batch_size=batch_size)

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        rows = []
        for uri in batch["uri"]:
            try:
                f = self.extractor.features(uri)
                rows.append((uri, len(f), f.tobytes(), self.extractor.random_init, None))
            except VideoDecodeError as e:
                rows.append((uri, 0, None, self.extractor.random_init, e.reason))
        return pa.Table.from_pandas(pd.DataFrame(rows, columns=SCHEMA.names), schema=SCHEMA,
                                    preserve_index=False)


def load_motion(run_dir: str, uris=None) -> dict[str, np.ndarray]:
    """uri -> (num_chunks, 256) float32 from a run's motion cache."""
    t = rundir.read_table(rundir.join(run_dir, "motion"))
    t = t[t["error"].isna()]
    if uris is not None:
        t = t[t["uri"].isin(set(uris))]
    return {u: np.frombuffer(b, np.float32).reshape(-1, FEATURE_DIM)
            for u, b in zip(t["uri"], t["features"], strict=True)}


def run(cfg) -> dict:
    import ray
    import ray.data

    record = rundir.StageRecord(cfg.run_dir, STAGE, cfg.model_dump())
    mc = cfg.motion
    if mc.checkpoint is None:
        logging.getLogger(STAGE).warning(RANDOM_INIT_WARNING)
    pairs_path = mc.pairs or rundir.join(cfg.run_dir, "pairs", "stage1", "pairs.parquet")
    pairs = pd.read_parquet(pairs_path, columns=["first_uri", "second_uri"])
    uris = sorted(set(pairs["first_uri"]) | set(pairs["second_uri"]))
    out = rundir.join(cfg.run_dir, "motion")
    done = rundir.read_table(out, columns=["uri"])
    todo = [u for u in uris if u not in set(done["uri"])] if len(done) else uris
    gpus = mc.num_gpus if mc.num_gpus is not None else (1.0 if ray.cluster_resources().get("GPU", 0) else 0.0)
    if todo:
        ds = ray.data.from_items([{"uri": u} for u in todo])
        ds = ds.repartition(target_num_rows_per_block=mc.videos_per_batch)
        ds = ds.map_batches(MotionActor, batch_format="pandas", batch_size=mc.videos_per_batch,
                            fn_constructor_kwargs={"checkpoint": mc.checkpoint, "size": mc.size,
                                                   "batch_size": mc.batch_size},
                            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=mc.max_actors),
                            num_cpus=mc.num_cpus, num_gpus=gpus or None)
        ds.write_parquet(out, min_rows_per_file=64)
    table = rundir.read_table(out)
    bad = table[table["error"].notna()]
    rundir.write_failures(cfg.run_dir, STAGE, bad.rename(columns={"error": "reason"}))
    random_init = bool(table["random_init"].any()) if len(table) else mc.checkpoint is None
    info = record.finish(inputs=len(uris), already_done=len(uris) - len(todo), outputs=len(table),
                         failures=len(bad), random_init=random_init, checkpoint=mc.checkpoint,
                         size=mc.size, gpus_per_actor=gpus,
                         chunks=int(table["num_chunks"].sum()) if len(table) else 0)
    summary(f"stage {STAGE}: {cfg.run_dir}", {
        "videos in pairs": len(uris), "already done (skipped)": len(uris) - len(todo),
        "cached": len(table) - len(bad), "failed": len(bad), "1-s chunks": info["chunks"],
        "weights": ("RANDOM INIT (demo/tests only!)" if random_init else mc.checkpoint),
        "frame size / GPUs per actor": f"{mc.size} / {gpus}", "duration": f"{info['duration_s']} s",
        "output": out})
    return info


def main(argv=None) -> None:
    stage_main(STAGE, __doc__, run, argv)


if __name__ == "__main__":
    # run the imported module, so Ray pickles its functions by reference (not from __main__)
    from ray_jobs.cache_motion import main as _main

    _main()
