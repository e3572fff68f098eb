"""Stage 1 with the paper's teacher architectures (random weights, small inputs) next to the
weight-free teachers, on a real local Ray over the sample pool's selected subset (the chain's
metrics + select outputs): score_teachers then make_pairs; the ensemble table has a column per
teacher and every teacher ran on its declared resources."""

import json
import os
import shutil

import pandas as pd
import pytest

from tests.conftest import CONFIG, demo_overrides
from tests.teachers.test_architectures import SMALL
from tests.teachers.tiny_vlm import SIZE, build_tiny_vlm
from w2s import rundir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stage1(chain, small_pool, tmp_path_factory):
    import ray

    from ray_jobs import make_pairs, score_teachers
    from w2s.config import load_config

    run = tmp_path_factory.mktemp("paper_teachers")
    for part in ("metrics", "select"):
        shutil.copytree(os.path.join(chain["run"], part), run / part)
    vlm = build_tiny_vlm(str(tmp_path_factory.mktemp("vlm")))["dir"]
    teachers = [{"name": "niqe"}, {"name": "lowlevel"}] + [{"name": n, "params": p} for n, p in SMALL.items()]
    # q-align declares 16 GB per model actor (a 7B model): about all the memory this machine gives Ray
    teachers.append({"name": "q-align", "params": {"model_dir": vlm, "frame_size": SIZE, "max_frames": 2},
                     "memory_mb": 0})
    cfg = load_config(CONFIG, demo_overrides(run, small_pool["manifest"], **{
        "pairs.synthetic_sources": 0, "pairs.heldout_sources": 0, "teachers": json.dumps(teachers)}))
    ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        return {"run": run, "cfg": cfg, "teachers": [t["name"] for t in teachers],
                "score": score_teachers.run(cfg), "pairs": make_pairs.run(cfg)}
    finally:
        ray.shutdown()


def test_every_teacher_scores_every_selected_video(stage1):
    sel = pd.read_parquet(os.path.join(stage1["run"], "select", "selected.parquet"))
    for name in stage1["teachers"]:
        t = rundir.read_table(os.path.join(stage1["run"], "teacher_scores", name))
        assert sorted(t["uri"]) == sorted(sel["uri"]), name
        assert t["error"].isna().all() and t["score"].notna().all() and t["score"].std() > 0, name
    per = {r["teacher"]: r for r in stage1["score"]["teachers"]}
    assert set(per) == set(stage1["teachers"])
    assert per["dover"]["scale"] == "DOVER overall" and per["q-align"]["scale"].startswith("Q-Align")
    assert per["fast-vqa"]["resources"]["gpu_memory_mb"] > 0 and per["niqe"]["resources"]["num_gpus"] == 0


def test_the_ensemble_table_has_every_teacher(stage1):
    table = pd.read_parquet(os.path.join(stage1["run"], "pairs", "stage1", "ensemble.parquet"))
    names = stage1["teachers"]
    assert set(names) | {f"z_{n}" for n in names} | {"uri", "mu", "var"} == set(table.columns)
    assert len(table) == 6 and table["uri"].is_unique
    z = table[[f"z_{n}" for n in names]]
    assert ((z.mean().abs() < 1e-9) & ((z.std(ddof=0) - 1).abs() < 1e-9)).all()
    assert (table["mu"] - z.mean(axis=1)).abs().max() < 1e-12
    assert (table["var"] - z.var(axis=1, ddof=0)).abs().max() < 1e-12
    pairs = pd.read_parquet(os.path.join(stage1["run"], "pairs", "stage1", "pairs.parquet"))
    assert (pairs["kind"] == "ensemble").sum() == stage1["pairs"]["ensemble_pairs"] == 12
    assert stage1["pairs"]["teachers"] == names
