"""The first half of the pipeline on a real local Ray (2 CPUs) over real clips."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from w2s import rundir, uri
from w2s.metrics import METRIC_NAMES

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "demo.yaml")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_metrics_stage_measures_good_and_records_bad(chain, small_pool):
    run = str(chain["run"])
    table = rundir.read_table(uri.join(run, "metrics"))
    assert len(table) == len(small_pool["good"]) + len(small_pool["bad"])
    assert table["uri"].is_unique
    good = table[table["error"].isna()]
    assert sorted(good["uri"]) == sorted(small_pool["good"])
    assert np.isfinite(good[list(METRIC_NAMES)].to_numpy()).all()
    fails = pd.read_parquet(os.path.join(run, "failures", "metrics.parquet"))
    assert sorted(fails["uri"]) == sorted(small_pool["bad"])
    assert set(fails["stage"]) == {"metrics"} and fails["reason"].str.len().min() > 5
    stage = json.load(open(os.path.join(run, "metrics", "stage.json")))
    assert stage["failures"] == 2 and stage["inputs"] == 12 and stage["w2s_version"]
    assert stage["config"]["metrics"]["batch_size"] == 2


def test_select_stage_matches_the_reference_better_than_random(chain):
    info = chain["select"]
    assert info["selected"] == 6
    assert info["tv_selected"] < info["tv_random"]
    assert os.path.getsize(os.path.join(chain["run"], "select", "histograms.png")) > 10_000
    sel = pd.read_parquet(os.path.join(chain["run"], "select", "selected.parquet"))
    assert sel["uri"].is_unique and len(sel) == 6


def test_score_teachers_stage_scores_every_selected_video(chain):
    sel = pd.read_parquet(os.path.join(chain["run"], "select", "selected.parquet"))
    for name in ("niqe", "lowlevel"):
        t = rundir.read_table(uri.join(str(chain["run"]), "teacher_scores", name))
        assert sorted(t["uri"]) == sorted(sel["uri"])
        assert t["score"].notna().all() and t["score"].std() > 0
    assert {t["teacher"] for t in chain["score"]["teachers"]} == {"niqe", "lowlevel"}


def test_make_pairs_stage_outputs(chain):
    run = chain["run"]
    pairs = pd.read_parquet(os.path.join(run, "pairs", "stage1", "pairs.parquet"))
    assert list(pairs.columns) == ["first_uri", "second_uri", "label", "kind", "family", "levels", "stage", "source"]
    ens = pairs[pairs["kind"] == "ensemble"]
    assert len(ens) == 12 and (ens["first_uri"] != ens["second_uri"]).all()
    syn = pairs[pairs["kind"] != "ensemble"]
    assert set(syn["kind"]) == {"spatial", "compression"}
    assert (syn["label"] != "similar").all()
    # blur: 5 levels -> 20 ordered pairs per source; h264: 4 levels -> 12
    assert (syn["family"] == "blur").sum() == 20 and (syn["family"] == "h264").sum() == 12
    for r in syn.itertuples():
        a, b = (int(x) for x in r.levels.split("-"))
        expect = ("superior" if a - b > 1 else "better" if a - b == 1 else
                  "worse" if b - a == 1 else "inferior")
        assert r.label == expect
        assert os.path.exists(r.first_uri) and os.path.exists(r.second_uri)
    conv = json.load(open(os.path.join(run, "pairs", "stage1", "llava.json")))
    assert len(conv) == len(pairs)
    assert conv[0]["conversations"][2]["value"] == (
        f"The quality of the second video is {pairs['label'].iloc[0]} to the first video.")
    assert chain["pairs"]["label_balance"]
    assert set(syn["source"]) == set(chain["pairs"]["synthetic_sources"]) and (ens["source"] == "").all()
    # held out: one pool clip outside the subset and the synthetic sources, never in the training pairs
    held = pd.read_parquet(os.path.join(run, "pairs", "heldout", "pairs.parquet"))
    sel = set(pd.read_parquet(os.path.join(run, "select", "selected.parquet"))["uri"])
    assert len(held) == 32 and set(held["source"]) == set(chain["pairs"]["heldout_sources"])
    assert not set(held["source"]) & (sel | set(syn["source"]))
    assert not (set(held["first_uri"]) | set(held["second_uri"])) & (set(pairs["first_uri"]) | set(pairs["second_uri"]))


def test_rerun_skips_finished_work(chain, local_ray, tmp_path):
    """On a copy of the finished run (other modules read the chain's run meanwhile)."""
    import shutil

    from ray_jobs import metrics, select

    for part in ("metrics", "select", "failures"):
        shutil.copytree(os.path.join(chain["run"], part), tmp_path / part)
    cfg = chain["cfg"].model_copy(update={"run_dir": str(tmp_path)})
    again = metrics.run(cfg)
    assert again["already_done"] == 12 and again["outputs"] == 12
    assert select.run(cfg)["selected"] == 6


def test_cache_motion_stage_covers_every_pair_video(chain):
    from w2s.rundir import RunDir

    pairs = pd.read_parquet(os.path.join(chain["run"], "pairs", "stage1", "pairs.parquet"))
    uris = set(pairs["first_uri"]) | set(pairs["second_uri"])
    feats = RunDir(chain["run"]).read_motion()
    assert set(feats) == uris
    for f in feats.values():
        assert f.shape[1] == 256 and 2 <= f.shape[0] <= 6 and np.isfinite(f).all()
    info = chain["motion"]
    assert info["random_init"] is True and info["failures"] == 0
    stage = json.load(open(os.path.join(chain["run"], "cache_motion", "stage1", "stage.json")))
    assert stage["random_init"] is True
