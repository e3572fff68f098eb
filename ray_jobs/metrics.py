"""Stage `metrics`: the nine low-level metrics of every video in the manifest.

    python -m ray_jobs metrics --config configs/demo.yaml [--set key=value ...]

Reads the manifest with Ray Data, decodes + measures inside each task (only
nine floats per video leave it), writes <run_dir>/metrics/*.parquet. Re-running
processes only videos not yet measured; bad videos go to failures/metrics.parquet.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from ray_jobs.console import console
from ray_jobs.progress import Tracker, tick
from ray_jobs.runtime import skip_done, task_resources
from w2s import rundir
from w2s.metrics import METRIC_NAMES
from w2s.metrics.table import safe_video_metrics

STAGE = "metrics"
SCHEMA = pa.schema([("uri", pa.string()), *[(m, pa.float64()) for m in METRIC_NAMES],
                    ("error", pa.string())])


def measure(batch: pd.DataFrame, backend: str = "pyav", progress=None) -> pa.Table:
    """Metrics rows with a fixed schema (a batch of only bad videos must not turn into nulls)."""
    rows = [safe_video_metrics(u, backend) for u in batch["uri"]]
    tick(progress, len(rows))
    return pa.Table.from_pandas(pd.DataFrame(rows, columns=SCHEMA.names), schema=SCHEMA, preserve_index=False)


def run(cfg) -> dict:
    import ray.data

    run_dir = rundir.RunDir(cfg.run_dir)
    out = run_dir.metrics()
    record = run_dir.record(STAGE, cfg.model_dump())
    manifest = ray.data.read_parquet(cfg.manifest).select_columns(["uri"])
    n_in = manifest.count()
    ds, n_done = skip_done(manifest, out)
    if n_done < n_in:
        with Tracker(n_in - n_done, STAGE) as progress:
            # small blocks: one task per batch of videos, so work spreads over every CPU / node
            ds = ds.repartition(target_num_rows_per_block=cfg.metrics.batch_size)
            ds = ds.map_batches(measure, batch_format="pandas", batch_size=cfg.metrics.batch_size,
                                **task_resources(cfg.metrics.num_cpus, cfg.metrics.memory_mb),
                                compute=ray.data.TaskPoolStrategy(),
                                fn_kwargs={"backend": cfg.metrics.backend, "progress": progress.handle})
            ds.write_parquet(out, min_rows_per_file=cfg.metrics.rows_per_file)
    table = rundir.read_table(out)
    bad = table[table["error"].notna()]
    run_dir.write_failures(STAGE, bad.rename(columns={"error": "reason"}))
    ok = rundir.ok_rows(table)
    stats = ok[list(METRIC_NAMES)].agg(["mean", "std"]).T.round(3)
    info = record.finish(inputs=n_in, already_done=n_done, outputs=len(table), measured=len(ok),
                         failures=len(bad))
    console.summary(f"stage {STAGE}: {run_dir.root}", {
        "videos in manifest": n_in, "already done (skipped)": n_done,
        "measured": len(ok), "failed": len(bad), "rows out": len(table),
        "duration": f"{info['duration_s']} s",
        **{m: f"mean {r['mean']}, std {r['std']}" for m, r in stats.iterrows()},
        "output": out,
    })
    return info


if __name__ == "__main__":  # the same as `python -m ray_jobs metrics`
    from ray_jobs.cli import stage_main

    stage_main(STAGE)
