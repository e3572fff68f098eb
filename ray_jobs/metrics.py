"""Stage `metrics`: the nine low-level metrics of every video in the manifest.

    python -m ray_jobs.metrics --config configs/demo.yaml [--set key=value ...]

Reads the manifest with Ray Data, decodes + measures inside each task (only
nine floats per video leave it), writes <run_dir>/metrics/*.parquet. Re-running
processes only videos not yet measured; bad videos go to failures/metrics.parquet.
"""

from __future__ import annotations

import functools

import pandas as pd
import pyarrow as pa

from ray_jobs.common import stage_main, summary
from w2s import rundir
from w2s.metrics import METRIC_NAMES
from w2s.metrics.table import safe_video_metrics

STAGE = "metrics"


@functools.lru_cache(maxsize=4)
def _resolve(ref):
    import ray

    return frozenset(ray.get(ref)) if ref is not None else frozenset()


def drop_done(batch: pd.DataFrame, done=None) -> pd.DataFrame:
    """Keep the rows whose uri is not in the (object-store) set `done`."""
    return batch[~batch["uri"].isin(_resolve(done))]


SCHEMA = pa.schema([("uri", pa.string()), *[(m, pa.float64()) for m in METRIC_NAMES],
                    ("error", pa.string())])


def measure(batch: pd.DataFrame, backend: str = "pyav") -> pa.Table:
    """Metrics rows with a fixed schema (a batch of only bad videos must not turn into nulls)."""
    rows = [safe_video_metrics(u, backend) for u in batch["uri"]]
    return pa.Table.from_pandas(pd.DataFrame(rows, columns=SCHEMA.names), schema=SCHEMA, preserve_index=False)


def run(cfg) -> dict:
    import ray
    import ray.data

    out = rundir.join(cfg.run_dir, STAGE)
    record = rundir.StageRecord(cfg.run_dir, STAGE, cfg.model_dump())
    manifest = ray.data.read_parquet(cfg.manifest).select_columns(["uri"])
    n_in = manifest.count()
    done = rundir.read_table(out, columns=["uri"])
    ds = manifest
    if len(done):
        ds = ds.map_batches(drop_done, batch_format="pandas",
                            fn_kwargs={"done": ray.put(list(done["uri"]))})
    # small blocks: one task per batch of videos, so work spreads over every CPU / node
    ds = ds.repartition(target_num_rows_per_block=cfg.metrics.batch_size)
    ds = ds.map_batches(measure, batch_format="pandas", batch_size=cfg.metrics.batch_size,
                        num_cpus=cfg.metrics.num_cpus, fn_kwargs={"backend": cfg.metrics.backend},
                        compute=ray.data.TaskPoolStrategy())
    if len(done) < n_in:
        ds.write_parquet(out, min_rows_per_file=cfg.metrics.rows_per_file)
    table = rundir.read_table(out)
    bad = table[table["error"].notna()]
    rundir.write_failures(cfg.run_dir, STAGE, bad.rename(columns={"error": "reason"}))
    ok = table[table["error"].isna()]
    stats = ok[list(METRIC_NAMES)].agg(["mean", "std"]).T.round(3)
    info = record.finish(inputs=n_in, already_done=len(done), outputs=len(table),
                         measured=len(ok), failures=len(bad))
    summary(f"stage {STAGE}: {cfg.run_dir}", {
        "videos in manifest": n_in, "already done (skipped)": len(done),
        "measured": len(ok), "failed": len(bad), "rows out": len(table),
        "duration": f"{info['duration_s']} s",
        **{m: f"mean {r['mean']}, std {r['std']}" for m, r in stats.iterrows()},
        "output": out,
    })
    return info


def main(argv=None) -> None:
    stage_main(STAGE, __doc__, run, argv)


if __name__ == "__main__":
    # run the imported module, so Ray pickles its functions by reference (not from __main__)
    from ray_jobs.metrics import main as _main

    _main()
