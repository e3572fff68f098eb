"""Interrupted runs resume without loss or duplicates; a dying worker node loses nothing.
(The real `ray job submit` of the whole pipeline on a multi-node Ray: test_cluster_job.py.)"""

import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.conftest import demo_overrides
from w2s import rundir
from w2s.config import load_config
from w2s.metrics import METRIC_NAMES

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
pytestmark = pytest.mark.slow


def _raw_rows(out_dir) -> pd.DataFrame:
    """Every row of every readable part file, without the dedupe read_table does."""
    frames = []
    for f in rundir.parquet_files(str(out_dir)):
        try:
            frames.append(pq.read_table(f).to_pandas())
        except Exception:
            pass
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["uri"])


def _stage_cmd(run_dir, manifest, **extra):
    sets = demo_overrides(run_dir, manifest, **{"metrics.batch_size": 1, "metrics.rows_per_file": 1, **extra})
    cmd = [sys.executable, "-m", "ray_jobs.metrics", "--config", CONFIG]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def test_interrupted_metrics_stage_resumes_to_the_clean_result(small_pool, chain, tmp_path):
    """Killed mid-stage and rerun, the output equals the uninterrupted run of the same pool (the
    session's `chain`, whose metrics step ran in one go; batch and file sizes differ, the values
    per video do not)."""
    import ray

    ray.shutdown()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    run = tmp_path / "interrupted"
    proc = subprocess.Popen(_stage_cmd(run, small_pool["manifest"]), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and len(rundir.parquet_files(str(run / "metrics"))) < 3:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
    proc.wait()
    partial = len(_raw_rows(run / "metrics"))
    assert 0 < partial < 12, partial
    r = subprocess.run(_stage_cmd(run, small_pool["manifest"]), cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "already done (skipped)" in r.stdout
    raw = _raw_rows(run / "metrics")
    assert len(raw) == 12 and raw["uri"].is_unique  # nothing lost, nothing twice
    a = raw.sort_values("uri").reset_index(drop=True)
    b = _raw_rows(chain["run"] / "metrics").sort_values("uri").reset_index(drop=True)
    pd.testing.assert_frame_equal(a[["uri", *METRIC_NAMES]], b[["uri", *METRIC_NAMES]])
    assert a["error"].notna().sum() == 2


def test_metrics_stage_survives_a_worker_node_dying(small_pool, tmp_path):
    import ray
    from ray.cluster_utils import Cluster

    from ray_jobs import metrics

    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        victim = cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        cfg = load_config(CONFIG, demo_overrides(tmp_path / "run", small_pool["manifest"], **{
            "ray.address": cluster.address, "metrics.batch_size": 1, "metrics.rows_per_file": 1}))
        result, errors = {}, []

        def stage():
            try:
                result.update(metrics.run(cfg))
            except BaseException as e:  # surfaced below
                errors.append(e)

        th = threading.Thread(target=stage)
        th.start()
        deadline = time.time() + 300
        while th.is_alive() and time.time() < deadline and len(rundir.parquet_files(str(tmp_path / "run" / "metrics"))) < 2:
            time.sleep(0.1)
        assert th.is_alive(), "stage finished before the node could be killed"
        cluster.remove_node(victim, allow_graceful=False)
        th.join(timeout=600)
        assert not errors, errors
        raw = _raw_rows(tmp_path / "run" / "metrics")
        assert sorted(raw["uri"]) == sorted(small_pool["good"] + small_pool["bad"])  # rows out = rows in
        assert raw["uri"].is_unique
        assert result["outputs"] == 12 and result["failures"] == 2
    finally:
        ray.shutdown()
        cluster.shutdown()
