"""The whole demo pipeline as one `ray job submit` on a real multi-node Ray, with the run
directory, the pool and the manifest on a real S3 API server (moto, on loopback).

Nodes (separate `ray start` processes): a head that runs no tasks, a CPU node, and a node that
declares one GPU and no CPUs (there is no real GPU: the models stay on the CPU). The job's
outputs equal the local-disk chain (`chain` in conftest) wherever they are deterministic, and
the placement is read back from Ray's own records (the state API): every model actor of
score_teachers / cache_motion / score / mining ran on the GPU node, every decode / metrics /
render task and the training workers on the CPU node.
"""

import json
import os

import numpy as np
import pandas as pd
import pytest

from tests.conftest import demo_overrides
from tests.raycluster import LocalCluster
from tests.s3server import environ, s3_server
from w2s import rundir, uri
from w2s.metrics import METRIC_NAMES

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUCKET = "w2s-test"
RUN, POOL = f"s3://{BUCKET}/runs/r1", f"s3://{BUCKET}/pool"
pytestmark = pytest.mark.slow

GPU_ACTORS = ("ModelSide", "MotionActor", "MultiScoreActor", "ScoreActor", "CompareActor")  # Multi- first
CPU_TASKS = ("measure", "prepare_batch", "render_row", "decode_batch", "decode_pairs", "decode_examples")


def _job_sets() -> list[str]:
    """The chain's stage-1 settings (so those outputs can be compared) + a 2-stage run sized for
    2 cores; every model actor asks for a GPU and no CPU (the GPU node has none)."""
    return demo_overrides(RUN, f"{POOL}/manifest.parquet", **{
        "teachers": "[{name: niqe, num_gpus: 1, num_cpus: 0}, {name: lowlevel, num_gpus: 1, num_cpus: 0}]",
        "motion.num_cpus": 0, "motion.max_actors": 1, "scoring.num_cpus": 0, "scoring.max_actors": 1,
        "scoring.num_anchors": 3, "scoring.batch_size": 2, "train.strategy": "ddp", "train.max_steps": 2,
        "train.max_frames": 2, "train.num_gpus": 0, "iterations": 2, "mining.gmad_pairs": 8,
        "mining.synthetic_pairs": 10, "mining.batch_size": 4, "eval.proxy": "true",
    })


def _upload_pool(small_pool) -> dict:
    """Every pool file (the bad ones too) under POOL, and a manifest of their s3:// URIs."""
    root = str(small_pool["root"])
    local = list(pd.read_parquet(small_pool["manifest"])["uri"])
    remote = [f"{POOL}/{os.path.relpath(u, root)}" for u in local]
    for a, b in zip(local, remote, strict=True):
        uri.upload_file(a, b)
    uri.write_parquet(f"{POOL}/manifest.parquet", pd.DataFrame({"uri": remote}))
    return {"root": root}


@pytest.fixture(scope="module")
def job(small_pool, chain):
    import ray

    ray.shutdown()
    with s3_server(BUCKET) as s3env, environ(s3env):
        pool = _upload_pool(small_pool)
        # the S3 settings reach the nodes only through the job's runtime_env, as on a real cluster
        with LocalCluster(head_cpus=0) as cluster:
            cluster.add_node(num_cpus=3)
            nodes = cluster.add_node(num_cpus=0, num_gpus=1)
            entry = ["python", "-m", "ray_jobs.pipeline", "--config", "configs/demo.yaml"]
            for s in _job_sets():
                entry += ["--set", s]
            sub = cluster.ray("job", "submit", "--address", cluster.dashboard, "--working-dir", ROOT,
                              "--submission-id", "w2s-pipeline", "--no-wait",
                              "--runtime-env-json", json.dumps({"env_vars": {**s3env, "PYTHONFAULTHANDLER": "1"}}), "--", *entry, cwd=ROOT)
            assert sub.returncode == 0, sub.stdout + sub.stderr
            logs = cluster.ray("job", "logs", "--address", cluster.dashboard, "--follow", "w2s-pipeline")
            status = cluster.ray("job", "status", "--address", cluster.dashboard, "w2s-pipeline")
            if os.environ.get("W2S_TEST_KEEP_LOGS"):
                with open(os.environ["W2S_TEST_KEEP_LOGS"], "w") as fh:
                    fh.write(logs.stdout + logs.stderr + status.stdout + status.stderr)
            out = {"logs": logs.stdout, "status": status.stdout + status.stderr, "nodes": nodes,
                   "pool": pool, **_placement(cluster.dashboard)}
            out["tables"] = _read_outputs()
        yield out


def _placement(dashboard: str) -> dict:
    from ray.util.state import list_actors, list_tasks

    def rows(items):
        return [x if isinstance(x, dict) else vars(x) for x in items]

    actors = rows(list_actors(address=dashboard, detail=True, limit=10_000))
    tasks = rows(list_tasks(address=dashboard, detail=True, limit=10_000))
    return {"actors": actors, "tasks": tasks}


def _read_outputs() -> dict:
    """What the job left in the bucket, read while the server still runs."""
    run = rundir.RunDir(RUN)
    return {
        "metrics": rundir.read_table(run.metrics()), "selected": uri.read_parquet(run.selected()),
        "teachers": {t: rundir.read_table(run.teacher_scores(t)) for t in ("niqe", "lowlevel")},
        "pairs1": uri.read_parquet(run.pairs(1)), "pairs2": uri.read_parquet(run.pairs(2)),
        "heldout": uri.read_parquet(run.heldout_pairs()), "motion": run.read_motion(),
        "scores1": rundir.read_table(run.scores("stage1")),
        "anchors": {s: uri.read_json(run.anchors(s)) for s in ("stage1", "stage2")},
        "pipeline": uri.read_json(run.path("pipeline.json")),
        "eval": uri.read_parquet(run.eval_summary()), "logs": uri.list_files(run.logs()),
        "media": len(uri.list_files(run.media("blur"))),
    }


def _norm(values, pool_root: str, run_root: str) -> list[str]:
    """URIs with the pool and run roots replaced by placeholders (local vs s3:// runs)."""
    pairs = [(f"{POOL}/", "<pool>/"), (f"{RUN}/", "<run>/")]
    pairs += [(r.rstrip("/") + "/", tag) for r, tag in ((pool_root, "<pool>/"), (run_root, "<run>/")) if r]
    out = []
    for v in values:
        v = str(v)
        for a, b in pairs:
            v = v.replace(a, b)
        out.append(v)
    return out


def _normed(df: pd.DataFrame, cols, job, chain) -> pd.DataFrame:
    df = df.copy()
    for c in cols:
        df[c] = _norm(df[c], job["pool"]["root"], str(chain["run"]))
    return df


def test_the_pipeline_job_succeeds_and_logs_every_step(job):
    assert "succeeded" in job["status"].lower(), job["status"] + job["logs"][-3000:]
    logs = job["logs"]
    for step in ("metrics", "select", "score_teachers", "make_pairs", "cache_motion@1", "train_student@1",
                 "anchors@1", "heldout@1", "score@1", "mine_pairs@2", "cache_motion@2", "train_student@2",
                 "anchors@2", "heldout@2", "evaluate"):
        assert f": {step} (" in logs, step
    assert "pipeline: 2 stages" in logs
    t = job["tables"]
    assert [r["stage"] for r in t["pipeline"]["stages"]] == [1, 2]
    assert t["logs"], "the driver's log is copied under the s3:// run directory"


def test_stage_1_outputs_on_s3_equal_the_local_disk_run(job, chain):
    t, local = job["tables"], rundir.RunDir(str(chain["run"]))
    a = _normed(t["metrics"], ["uri"], job, chain).sort_values("uri").reset_index(drop=True)
    b = _normed(rundir.read_table(local.metrics()), ["uri"], job, chain).sort_values("uri").reset_index(drop=True)
    pd.testing.assert_frame_equal(a[["uri", *METRIC_NAMES]], b[["uri", *METRIC_NAMES]])
    # the same videos fail (the reason's words differ: a local empty file vs an empty object)
    assert (a["error"].notna() == b["error"].notna()).all() and a["error"].notna().sum() == 2
    assert sorted(_norm(t["selected"]["uri"], job["pool"]["root"], "")) == sorted(
        _norm(uri.read_parquet(local.selected())["uri"], job["pool"]["root"], ""))
    for name, table in t["teachers"].items():
        mine = _normed(table, ["uri"], job, chain).set_index("uri")["score"].sort_index()
        theirs = _normed(rundir.read_table(local.teacher_scores(name)), ["uri"], job, chain)
        np.testing.assert_allclose(mine, theirs.set_index("uri")["score"].sort_index(), rtol=1e-9)
    cols = ["first_uri", "second_uri", "source"]
    for mine, theirs in ((t["pairs1"], uri.read_parquet(local.pairs(1))),
                         (t["heldout"], uri.read_parquet(local.heldout_pairs()))):
        pd.testing.assert_frame_equal(_normed(mine, cols, job, chain), _normed(theirs, cols, job, chain))
    # renders live in the bucket: every synthetic pair video is an s3:// object the job wrote
    syn = t["pairs1"][t["pairs1"]["kind"] != "ensemble"]
    assert syn["first_uri"].str.startswith(f"{RUN}/media/").all()
    assert t["media"] == 3 * 5  # blur's 5 levels of the synthetic, the held-out and stage 2's fresh source
    theirs = local.read_motion()
    mine = {k: v for k, v in zip(_norm(t["motion"], job["pool"]["root"], ""), t["motion"].values(), strict=True)}
    theirs = dict(zip(_norm(theirs, job["pool"]["root"], str(chain["run"])), theirs.values(), strict=True))
    assert set(theirs) <= set(mine)  # stage 2 cached the fresh renders too
    for k, v in theirs.items():
        np.testing.assert_allclose(mine[k], v, atol=1e-5, err_msg=k)


def test_later_stages_read_and_write_only_the_bucket(job, small_pool):
    t = job["tables"]
    scored = t["scores1"]
    assert len(scored) == 6 and scored["uri"].str.startswith(f"{POOL}/").all()  # scoring.videos: selected
    assert scored.loc[scored["error"].isna(), "score"].between(0, 100).all()
    assert all(len(a["anchors"]) == 3 for a in t["anchors"].values())
    p2 = t["pairs2"]
    assert len(p2) and set(p2["kind"]) >= {"gmad"} and p2["first_uri"].str.startswith("s3://").all()
    assert set(t["eval"]["model"]) >= {"stage1", "stage2", "niqe", "lowlevel"}


def _node(job, gpu: bool) -> str:
    ids = [n["node_id"] for n in job["nodes"] if not n["is_head_node"]
           and bool(n["resources_total"].get("GPU")) == gpu]
    assert len(ids) == 1
    return ids[0]


def test_model_actors_ran_on_the_gpu_node_and_cpu_work_on_the_cpu_node(job):
    gpu, cpu = _node(job, True), _node(job, False)
    seen = {}
    for a in job["actors"]:
        name = a.get("repr_name") or a.get("class_name") or ""
        kind = next((k for k in GPU_ACTORS if k in name), None)
        if kind:
            seen.setdefault(kind, set()).add(a["node_id"])
    assert set(seen) >= {"ModelSide", "MotionActor", "ScoreActor", "CompareActor", "MultiScoreActor"}, seen
    assert all(nodes == {gpu} for nodes in seen.values()), seen
    ran = {}
    for t in job["tasks"]:
        kind = next((k for k in CPU_TASKS if k in (t.get("name") or "")), None)
        if kind and t.get("node_id"):
            ran.setdefault(kind, set()).add(t["node_id"])
    assert set(ran) >= {"measure", "prepare_batch", "render_row", "decode_batch", "decode_pairs"}, ran
    assert all(nodes == {cpu} for nodes in ran.values()), ran
    train = {a["node_id"] for a in job["actors"] if "RayTrainWorker" in (a.get("class_name") or "")}
    assert train == {cpu}, train
    # whatever asked Ray for a GPU (the anchors task too) ran on the GPU node, and nothing else did
    for r in job["actors"] + job["tasks"]:
        wants_gpu = bool((r.get("required_resources") or {}).get("GPU"))
        if r.get("node_id") and wants_gpu:
            assert r["node_id"] == gpu, r.get("name") or r.get("class_name")
