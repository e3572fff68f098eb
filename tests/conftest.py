import os

import pandas as pd
import pytest

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "demo.yaml")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # same for ray.init, ray start and job submit
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def small_pool(tmp_path_factory):
    """10 real clips from the sample-pool builder, plus two bad files, in one manifest."""
    from w2s.pool import build_pool

    root = tmp_path_factory.mktemp("pool")
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
    import ray

    from ray_jobs import cache_motion, make_pairs, metrics, score_teachers, select
    from w2s.config import load_config

    run = tmp_path_factory.mktemp("run")
    cfg = load_config(CONFIG, demo_overrides(run, small_pool["manifest"]))
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        out = {"cfg": cfg, "run": run}
        for name, stage in (("metrics", metrics), ("select", select), ("score", score_teachers),
                            ("pairs", make_pairs), ("motion", cache_motion)):
            out[name] = stage.run(cfg)
    finally:
        ray.shutdown()
    return out
