import os
import pickle

import pandas as pd
import pytest

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "demo.yaml")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # same for ray.init, ray start and job submit
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


def once_per_run(tmp_path_factory, name: str, build):
    """`build(directory)` once for the whole test run: under pytest-xdist the first worker to ask
    builds it (the others wait on a file lock) and every worker reads the same result, so the
    session's expensive inputs (the pool, the stage-1 chain) are made once, not once per worker.
    Readers must not write into what it built."""
    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # the same for every worker of this run
    result = shared / f"{name}.pickle"
    with FileLock(str(shared / f"{name}.lock")):
        if not result.exists():
            out = build(tmp_path_factory.mktemp(name))
            tmp = result.with_suffix(".part")
            tmp.write_bytes(pickle.dumps(out))
            tmp.rename(result)
        return pickle.loads(result.read_bytes())


@pytest.fixture(scope="session")
def small_pool(tmp_path_factory):
    """10 real clips from the sample-pool builder, plus two bad files, in one manifest."""
    return once_per_run(tmp_path_factory, "pool", _build_small_pool)


def _build_small_pool(root):
    from w2s.pool import build_pool

    df = build_pool(10, str(root), seed=3, workers=2, progress=False)
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("not a video at all\n")
    bad = pd.DataFrame({"uri": [str(root / "empty.mp4"), str(root / "text.mp4")], "source": "bad"})
    manifest = pd.concat([df, bad], ignore_index=True)
    path = root / "manifest_with_bad.parquet"
    manifest.to_parquet(path, index=False)
    return {"root": root, "manifest": str(path), "good": list(df["uri"]), "bad": list(bad["uri"])}


def demo_overrides(run_dir, manifest, **extra) -> list[str]:
    sets = {
        "run_dir": str(run_dir), "manifest": str(manifest), "ray.num_cpus": 2, "ray.progress_bars": "false",
        "metrics.batch_size": 2, "metrics.rows_per_file": 2, "select.n": 6,
        "pairs.ensemble_pairs": 12, "pairs.synthetic_sources": 1, "pairs.families": "[blur, h264]",
        "pairs.max_short_side": 240, "pairs.heldout_sources": 1, "motion.size": 64, **extra,
    }
    return [f"{k}={v}" for k, v in sets.items()]


@pytest.fixture(scope="session")
def chain(small_pool, tmp_path_factory):
    """metrics -> select -> score_teachers -> make_pairs -> cache_motion on a local Ray (2 CPUs)
    over the small pool, on local disk (test_chain checks it; the object-store cluster job is
    compared with it)."""
    return once_per_run(tmp_path_factory, "run", lambda run: _build_chain(run, small_pool))


def _build_chain(run, small_pool):
    import ray

    from ray_jobs import cache_motion, make_pairs, metrics, score_teachers, select
    from w2s.config import load_config

    cfg = load_config(CONFIG, demo_overrides(run, small_pool["manifest"]))
    ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        out = {"cfg": cfg, "run": run}
        for name, stage in (("metrics", metrics), ("select", select), ("score", score_teachers),
                            ("pairs", make_pairs), ("motion", cache_motion)):
            out[name] = stage.run(cfg)
    finally:
        ray.shutdown()
    return out


# The longest modules first (measured: bench/results/suite.json), so that `make test`'s two
# pytest-xdist workers (--dist loadfile --no-loadscope-reorder) start on them and end together;
# every other module keeps its place after them.
LONGEST_FIRST = ("ray_jobs/test_train.py", "ray_jobs/test_scoring_stages.py", "ray_jobs/test_cluster_job.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return next((i for i, m in enumerate(LONGEST_FIRST) if path.endswith(m)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the order within a module, and of the rest, is unchanged
