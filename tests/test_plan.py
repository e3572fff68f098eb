"""The scale planner (`w2s plan`): the work it counts follows the config, the times follow the
cluster, and every cost says where it came from."""

import json
import os
import subprocess
import sys

import pytest

from w2s.config import load_config
from w2s.plan import Cluster, Costs, Prices, load_costs, plan
from w2s.plan.costs import GPU_ASSUMPTIONS
from w2s.video.distort import FAMILIES

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PAPER = os.path.join(ROOT, "configs", "paper.yaml")


@pytest.fixture(scope="module")
def cfg():
    return load_config(PAPER)


def _rows(cfg, **cluster):
    rows, totals = plan(cfg, Cluster(**{"videos": 1_500_000, "gpus": 64, "cpus": 1024, **cluster}))
    return {r.stage: r for r in rows}, totals


def test_every_stage_of_every_iteration_is_planned(cfg):
    rows, totals = _rows(cfg)
    expect = ["metrics", "select", "score_teachers", "make_pairs"]
    for n in range(1, cfg.iterations + 1):
        expect += ([f"mine_pairs@{n}"] if n > 1 else []) + [f"cache_motion@{n}", f"train_student@{n}",
                                                             f"anchors@{n}", f"heldout@{n}", f"score@{n}"]
    assert list(rows) == expect + ["evaluate"]
    assert totals["bounding_stage"] in rows and 0 < totals["bounding_share"] <= 1
    assert totals["wall_hours"] == pytest.approx(sum(r.wall_hours for r in rows.values()))
    assert all(r.usd >= 0 and r.wall_hours >= 0 for r in rows.values())


def test_the_work_follows_the_config(cfg):
    rows, _ = _rows(cfg)
    p = cfg.pairs
    renders = (p.synthetic_sources + p.heldout_sources) * sum(FAMILIES[f].num_levels for f in p.families)
    assert rows["make_pairs"].work.startswith(f"{renders:,} renders")
    assert rows["metrics"].work == "1,500,000 videos"
    t = cfg.train
    syn = p.synthetic_sources * sum(FAMILIES[f].num_levels * (FAMILIES[f].num_levels - 1) for f in p.families)
    steps = -(-(p.ensemble_pairs + syn) * t.epochs * (2 if t.mirror_pairs else 1) // (t.batch_size * t.grad_accum * 64))
    assert f"{int(steps):,} steps" in rows["train_student@1"].work
    # lossless renders dominate the storage: TBs at paper scale, and the plan says how much
    assert rows["make_pairs"].storage_gb > 1000 and "TB at 540p" in rows["make_pairs"].notes[0]


def test_times_follow_the_cluster(cfg):
    a, _ = _rows(cfg)
    b, _ = _rows(cfg, gpus=128)
    c, _ = _rows(cfg, cpus=2048)
    assert a["train_student@1"].bound == "GPU"
    assert b["train_student@1"].wall_hours == pytest.approx(a["train_student@1"].wall_hours / 2)
    assert a["metrics"].bound == "CPU"
    start = load_costs().stage_start_s.get("metrics", 0.0) / 3600  # measured (bench/scale.py): does not shrink
    assert c["metrics"].wall_hours - start == pytest.approx((a["metrics"].wall_hours - start) / 2)
    assert b["metrics"].gpu_hours == a["metrics"].gpu_hours == 0  # the same work, whatever the cluster
    assert a["train_student@1"].gpu_hours == pytest.approx(b["train_student@1"].gpu_hours)


def test_a_gpu_measurement_file_replaces_the_assumption(cfg, tmp_path):
    base = load_costs()
    assert base.sources["student_train"].startswith("assumed:")
    gpu_file = tmp_path / "teachers_gpu.json"
    rate = GPU_ASSUMPTIONS["student_train"][0] * 2
    gpu_file.write_text(json.dumps({"gpu": "H200", "date": "2026-12-01", "items_per_s": {"student_train": rate}}))
    costs = load_costs(gpu_file=str(gpu_file))
    assert costs.gpu["student_train"] == rate and "H200" in costs.sources["student_train"]
    cl = Cluster(videos=1_500_000, gpus=64, cpus=1024)
    slow = {r.stage: r for r in plan(cfg, cl, base)[0]}
    fast = {r.stage: r for r in plan(cfg, cl, costs)[0]}
    assert fast["train_student@1"].gpu_hours == pytest.approx(slow["train_student@1"].gpu_hours / 2)
    # the paper's model teachers run on GPUs (declared num_gpus null); a measured rate replaces theirs
    teachers = {r.stage: r for r in plan(cfg, cl, base)[0]}["score_teachers"]
    assert cfg.teachers[0].name == "minimalisticvqa-vii" and teachers.gpu_hours > 0
    gpu_file.write_text(json.dumps({"items_per_s": {t.name: GPU_ASSUMPTIONS[t.name][0] * 4
                                                    for t in cfg.teachers}}))
    quick = {r.stage: r for r in plan(cfg, cl, load_costs(gpu_file=str(gpu_file)))[0]}["score_teachers"]
    assert quick.gpu_hours == pytest.approx(teachers.gpu_hours / 4)


def test_the_scale_rehearsal_adds_row_overheads_stage_starts_and_driver_steps(cfg, tmp_path):
    import shutil

    from w2s.plan.costs import RESULTS

    shutil.copy(os.path.join(RESULTS, "unit_costs.json"), tmp_path / "unit_costs.json")
    bare = load_costs(str(tmp_path))
    assert not bare.row_overhead_cpu_s and "scale" not in bare.sources
    (tmp_path / "scale.json").write_text(json.dumps({
        "date": "2026-12-07",
        "overheads": {"metrics": {"overhead_cpu_s_per_row": 0.01, "start_s": 36.0},
                      "score": {"overhead_cpu_s_per_row": 0.1, "start_s": 3600.0}},
        "driver_steps": {"rows": 1_500_000, "steps": {"gmad": {"seconds": 1500.0}, "select_lp": {"seconds": 30.0},
                                                       "plan": {"error": "x"}}}}))
    costs = load_costs(str(tmp_path))
    assert costs.sources["scale"].startswith("row overheads") and costs.lp_s_per_million == pytest.approx(20.0)
    cl = Cluster(videos=1_500_000, gpus=64, cpus=1024)
    before = {r.stage: r for r in plan(cfg, cl, bare)[0]}
    after = {r.stage: r for r in plan(cfg, cl, costs)[0]}
    # the per-row overhead, and the start (driver time, counted with the CPU-hours)
    assert after["metrics"].cpu_hours == pytest.approx(before["metrics"].cpu_hours + (1_500_000 * 0.01 + 36) / 3600)
    assert after["score@1"].wall_hours >= before["score@1"].wall_hours + 1.0 - 1e-9  # the 1-h start
    assert after["score_teachers"].cpu_hours == pytest.approx(before["score_teachers"].cpu_hours)  # not measured
    assert after["mine_pairs@2"].cpu_hours > before["mine_pairs@2"].cpu_hours  # gMAD at 1000 s per 1M


def test_dollars_are_hours_times_prices(cfg):
    costs = Costs(cpu={k: 1.0 for k in load_costs().cpu}, render_bytes={k: 1e6 for k in FAMILIES},
                  gpu={k: 1.0 for k in GPU_ASSUMPTIONS}, ray_efficiency=1.0)
    rows, totals = plan(cfg, Cluster(videos=3600, gpus=1, cpus=1, video_seconds=1.0), costs,
                        Prices(gpu_hour=10.0, cpu_hour=1.0))
    m = rows[0]
    assert m.stage == "metrics" and m.cpu_hours == pytest.approx(1.0) and m.usd == pytest.approx(1.0)
    assert m.wall_hours == pytest.approx(1.0)  # 3600 CPU-s on 1 CPU
    assert totals["usd"] == pytest.approx(sum(r.cpu_hours * 1.0 + r.gpu_hours * 10.0 for r in rows))


def test_w2s_plan_prints_the_plan_and_json():
    w2s = os.path.join(os.path.dirname(sys.executable), "w2s")
    r = subprocess.run([w2s, "plan", "--videos", "1500000", "--gpus", "64", "--cpus", "1024"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for word in ("train_student@3", "wall time bound by:", "actors to configure:", "prices (", "assumed:"):
        assert word in r.stdout, word
    r = subprocess.run([w2s, "plan", "--videos", "1000", "--gpus", "8", "--cpus", "64", "--json",
                        "--gpu-hour-usd", "3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = json.loads(r.stdout)
    assert out["totals"]["prices"]["gpu_hour"] == 3 and out["stages"][0]["stage"] == "metrics"
    assert subprocess.run([w2s, "plan", "--help"], capture_output=True, text=True).stdout.count("--videos")
