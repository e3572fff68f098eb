"""Stage `metrics`: the nine low-level metrics of every video in the manifest.

    python -m ray_jobs metrics --config configs/demo.yaml [--set key=value ...]

Reads the manifest with Ray Data, decodes + measures inside each task (only
nine floats per video leave it), writes <run_dir>/metrics/*.parquet. Re-running
processes only videos not yet measured; bad videos go to failures/metrics.parquet.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from ray_jobs.base import RowStage
from w2s import rundir
from w2s.metrics import METRIC_NAMES
from w2s.metrics.table import safe_video_metrics


class Metrics(RowStage):
    name, ray_name = "metrics", "measure"
    schema = pa.schema([("uri", pa.string()), *[(m, pa.float64()) for m in METRIC_NAMES], ("error", pa.string())])
    summary_columns = tuple(METRIC_NAMES)

    def resources(self, cfg):
        return cfg.metrics

    def source(self, ctx):
        return ctx.cfg.manifest

    def output(self, ctx):
        return ctx.run_dir.metrics()

    def params(self, cfg):
        return {"backend": cfg.metrics.backend}

    def rows_per_file(self, cfg):
        return cfg.metrics.rows_per_file

    def setup(self, backend: str = "pyav"):
        self.backend = backend

    def process(self, batch: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame([safe_video_metrics(u, self.backend) for u in batch["uri"]], columns=self.schema.names)

    def report(self, ctx, table, n_in, n_done):
        ok = rundir.ok_rows(table)
        stats = ok[list(METRIC_NAMES)].agg(["mean", "std"]).T.round(3)
        ctx.rows.update({"videos in manifest": n_in, "already done (skipped)": n_done, "measured": len(ok),
                         "failed": ctx.failed, "rows out": len(table),
                         **{m: f"mean {r['mean']}, std {r['std']}" for m, r in stats.iterrows()},
                         "output": ctx.run_dir.metrics()})
        return {"inputs": n_in, "already_done": n_done, "outputs": len(table), "measured": len(ok),
                "failures": ctx.failed}


STAGE, SCHEMA = Metrics, Metrics.schema
run = STAGE().run  # run(cfg) -> dict: the stage from Python


def measure(batch: pd.DataFrame, backend: str = "pyav") -> pa.Table:
    """One batch's rows outside Ray (benchmarks, tests): the stage's `process` with its schema."""
    stage = Metrics()
    stage.setup(backend)
    return stage.table(stage.process(batch))


if __name__ == "__main__":  # the same as `python -m ray_jobs metrics`
    STAGE.main()
