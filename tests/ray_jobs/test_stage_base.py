"""A new row-wise stage written as docs/adding_a_stage.md shows (resources, setup, process; the
base owns the rest) resumes, records its failures and writes its record and summary, on a real
local Ray."""

import json
import os

import pandas as pd
import pyarrow as pa
import pytest

from ray_jobs.base import RowStage
from w2s import rundir
from w2s.config import load_config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class FileSizes(RowStage):
    """The toy stage: each video's size in bytes (a missing or empty file is a failure)."""
    name = "file_sizes"
    schema = pa.schema([("uri", pa.string()), ("bytes", pa.int64()), ("error", pa.string())])

    def resources(self, cfg):
        return cfg.metrics.model_copy(update={"num_cpus": 0.5, "batch_size": 2})

    def source(self, ctx):
        return ctx.cfg.manifest

    def output(self, ctx):
        return ctx.run_dir.path("file_sizes")

    def params(self, cfg):
        return {"minimum": 1}

    def setup(self, minimum: int):
        self.minimum = minimum

    def process(self, batch: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for u in batch["uri"]:
            n = os.path.getsize(u) if os.path.exists(u) else -1
            rows.append((u, n, None if n >= self.minimum else ("missing" if n < 0 else "empty")))
        return pd.DataFrame(rows, columns=self.schema.names)

    def report(self, ctx, table, n_in, n_done):
        ctx.rows.update({"videos": n_in, "already done": n_done, "failed": ctx.failed})
        return {"inputs": n_in, "already_done": n_done, "outputs": len(table)}


@pytest.fixture
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": ROOT}})
    yield
    ray.shutdown()


def test_a_toy_row_stage_resumes_records_failures_and_summarises(tmp_path, small_pool, ray_local, capsys):
    good = list(small_pool["good"])[:4]
    (tmp_path / "empty.mp4").write_bytes(b"")
    videos = good + [str(tmp_path / "empty.mp4"), str(tmp_path / "missing.mp4")]
    manifest = tmp_path / "manifest.parquet"
    pd.DataFrame({"uri": videos[:3]}).to_parquet(manifest)
    cfg = load_config(os.path.join(ROOT, "configs", "demo.yaml"),
                      [f"run_dir={tmp_path / 'run'}", f"manifest={manifest}", "ray.progress_bars=false"])
    first = FileSizes().run(cfg)
    assert (first["inputs"], first["already_done"], first["outputs"]) == (3, 0, 3)
    assert "stage file_sizes" in capsys.readouterr().out

    pd.DataFrame({"uri": videos}).to_parquet(manifest)  # three more rows: only they are processed
    second = FileSizes().run(cfg)
    assert (second["inputs"], second["already_done"], second["outputs"]) == (6, 3, 6)
    run = rundir.RunDir(cfg.run_dir)
    table = rundir.read_table(run.path("file_sizes"))
    assert sorted(table["uri"]) == sorted(videos) and not table["uri"].duplicated().any()
    assert (table.set_index("uri").loc[good, "bytes"] > 0).all()
    fails = pd.read_parquet(run.failures("file_sizes"))
    assert sorted(fails["reason"]) == ["empty", "missing"] and set(fails["stage"]) == {"file_sizes"}
    record = json.loads(open(run.stage_record("file_sizes")).read())
    assert record["stage"] == "file_sizes" and record["outputs"] == 6 and record["duration_s"] >= 0
    out = capsys.readouterr().out
    assert "already done" in out and "duration" in out
