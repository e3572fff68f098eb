"""After training: the anchors and score stages, and the Ray Serve scorer over real HTTP on a
local Ray (2 CPUs), with the tiny student the train_student stage exports."""

import concurrent.futures as cf
import glob
import json
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
import pytest
import requests
import torch

from tests.conftest import demo_overrides
from w2s import rundir
from w2s.config import load_config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
KEY_ENV, KEY = "W2S_TEST_API_KEY", "test-key-123"
LIMIT_MB = 2.0
N_ANCHORS = 3  # 9 training videos: 5 equal-width intervals of their scores leave one empty
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scored(small_pool, chain, tmp_path_factory):
    """Every stage on the small pool, a 2-step DDP student, its anchors and the score stage. The
    metrics step is the session chain's (the same pool and metrics settings), copied in."""
    import shutil

    import ray

    from ray_jobs import (
        anchors,
        cache_motion,
        make_pairs,
        score,
        score_teachers,
        select,
        train_student,
    )

    os.environ[KEY_ENV] = KEY  # the local Ray's workers (the ingress replica) inherit it
    run = tmp_path_factory.mktemp("scoring_run")
    sets = demo_overrides(run, small_pool["manifest"], **{
        "select.n": 10, "pairs.families": "[blur]", "train.strategy": "ddp", "train.max_steps": 2,
        "train.max_frames": 2, "scoring.max_actors": 1, "scoring.batch_size": 2, "scoring.videos": "manifest",
        "scoring.num_anchors": N_ANCHORS})
    cfg = load_config(CONFIG, sets).with_absolute_paths()
    assert cfg.metrics == chain["cfg"].metrics
    shutil.copytree(chain["run"] / "metrics", run / "metrics")
    (run / "failures").mkdir()
    shutil.copy(chain["run"] / "failures" / "metrics.parquet", run / "failures")
    ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    for stage in (select, score_teachers, make_pairs, cache_motion, train_student):
        stage.run(cfg)
    out = {"cfg": cfg, "run": run, "sets": sets, "anchors": anchors.run(cfg), "score": score.run(cfg)}
    out["again"] = score.run(cfg)
    yield out
    ray.shutdown()


@pytest.fixture(scope="module")
def scorer(scored):
    from w2s.scoring.scorer import Scorer

    return Scorer.from_pretrained(str(scored["run"] / "student" / "stage1"))


def test_anchors_stage_stores_five_anchors_with_the_checkpoint(scored):
    info = scored["anchors"]
    ckpt = scored["run"] / "student" / "stage1"
    stored = json.loads((ckpt / "anchors.json").read_text())
    assert len(stored["anchors"]) == N_ANCHORS == len(info["anchors"])
    assert len(glob.glob(str(ckpt / "anchors" / "*.npz"))) == N_ANCHORS
    m = np.array(stored["matrix"])
    assert m.shape == (N_ANCHORS, N_ANCHORS) and np.allclose(m + m.T, 1)
    mus = [a["mu"] for a in stored["anchors"]]
    assert mus == sorted(mus)  # one per interval, low to high
    assert stored["sampling"]["max_frames"] == 2 and stored["temperature_test"] == 5.0
    assert info["training_videos"] == 9  # the 12 ensemble pairs cover 9 of the 10 selected videos


def test_score_stage_scores_every_video_and_records_bad_ones(scored, small_pool, scorer):
    table = rundir.read_table(str(scored["run"] / "scores" / "stage1"))
    assert sorted(table["uri"]) == sorted(small_pool["good"] + small_pool["bad"])
    good = table[table["error"].isna()]
    assert sorted(good["uri"]) == sorted(small_pool["good"])
    assert good["score"].between(0, 100).all() and good[[f"c_{i}" for i in range(N_ANCHORS)]].notna().all().all()
    fails = pd.read_parquet(scored["run"] / "failures" / "score.parquet")
    assert sorted(fails["uri"]) == sorted(small_pool["bad"])
    # the stage's scores are the in-process scorer's
    some = good.head(3)
    ours = [s.score for s in scorer.score(list(some["uri"]))]
    np.testing.assert_allclose(ours, some["score"], atol=1e-3)
    info = scored["score"]
    assert info["scored"] == 10 and info["failures"] == 2 and len(info["quantiles"]) == 5
    assert os.path.getsize(scored["run"] / "scores" / "stage1" / "histogram.png") > 5_000
    assert scored["again"]["already_done"] == 12  # resumable: nothing scored twice


def test_score_needs_the_anchors_stage(scored, tmp_path):
    cmd = [sys.executable, "-m", "ray_jobs", "score", "--config", CONFIG]
    for s in scored["sets"] + [f"scoring.checkpoint={tmp_path}"]:
        cmd += ["--set", s]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "run the `anchors` stage first" in p.stdout + p.stderr


def test_a_later_stage_starts_from_the_previous_students_weights(scored):
    """train.init_from: with every learning rate 0 the stage-2 export is the stage-1 student."""
    from ray_jobs import train_student
    from w2s.student.model import W2SStudent

    stage1 = str(scored["run"] / "student" / "stage1")
    sets = scored["sets"] + ["train.name=init_check", f"train.init_from={stage1}", "train.max_steps=1",
                             "train.lr={vision_tower: 0, projector: 0, motion_projector: 0, llm: 0}"]
    info = train_student.run(load_config(CONFIG, sets).with_absolute_paths())
    assert info["steps_done"] == 1
    a = W2SStudent.from_pretrained(stage1).state_dict()
    b = W2SStudent.from_pretrained(str(scored["run"] / "student" / "init_check")).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fresh = load_config(CONFIG, scored["sets"]).student
    from w2s.student.presets import create_student

    new, _ = create_student(fresh.preset, seed=fresh.seed + 1, image_size=fresh.image_size,
                            patch_size=fresh.patch_size)
    assert any(not torch.equal(a[k], new.state_dict()[k]) for k in a)  # not a fresh student


# -- the service ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def service(scored, small_pool, tmp_path_factory):
    from ray import serve

    from serve.app import Ingress, ServeSettings
    from serve.app import ScorerDeployment as Scorer

    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.mp4").write_bytes(open(small_pool["good"][0], "rb").read())
    links = tmp_path_factory.mktemp("links")  # an allowed root of its own: the pool is shared, read-only
    os.symlink(outside / "secret.mp4", links / "escape.mp4")
    settings = ServeSettings(model_dir=str(scored["run"] / "student" / "stage1"),
                             allowed_roots=[str(small_pool["root"]), str(links)], api_key_env=KEY_ENV,
                             max_upload_mb=LIMIT_MB, max_batch_size=8).model_dump()
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    app = Ingress.options(ray_actor_options={"num_cpus": 0.25}).bind(
        Scorer.options(ray_actor_options={"num_cpus": 0.5}).bind(settings), settings)
    serve.run(app, name="w2s", route_prefix="/")
    yield {"url": f"http://127.0.0.1:{port}", "outside": outside, "escape": links / "escape.mp4"}
    serve.shutdown()


H = {"X-API-Key": KEY}


def _upload(url, path, **kw):
    with open(path, "rb") as fh:
        return requests.post(url + "/v1/score", files={"video": (os.path.basename(path), fh)}, timeout=300, **kw)


def test_http_scores_equal_the_in_process_scorer(service, small_pool, scorer):
    clips = small_pool["good"][:2]
    expect = [s.score for s in scorer.score(clips)]
    for clip, want in zip(clips, expect, strict=True):
        r = _upload(service["url"], clip, headers=H)
        assert r.status_code == 200, r.text
        assert r.json()["score"] == pytest.approx(want, abs=1e-3) and len(r.json()["c"]) == N_ANCHORS
        r = requests.post(service["url"] + "/v1/score", json={"uri": clip}, headers=H, timeout=300)
        assert r.status_code == 200 and r.json()["score"] == pytest.approx(want, abs=1e-3)
        assert r.json()["uri"] == clip
    r = requests.post(service["url"] + "/v1/compare", json={"first": clips[0], "second": clips[1]}, headers=H)
    probs = r.json()["probabilities"]
    assert r.status_code == 200 and sum(probs.values()) == pytest.approx(1)
    assert list(probs.values()) == pytest.approx(list(scorer.compare(clips[0], clips[1]).values()), abs=1e-5)


def test_service_metadata_health_and_docs(service):
    u = service["url"]
    assert requests.get(u + "/healthz").json() == {"status": "ok"}
    m = requests.get(u + "/v1/model", headers=H).json()
    assert m["checkpoint"] == "stage1" and len(m["anchors"]) == N_ANCHORS and m["link"] == "phi"
    assert requests.get(u + "/docs").status_code == 200
    paths = requests.get(u + "/openapi.json").json()["paths"]
    assert {"/v1/score", "/v1/compare", "/v1/model", "/healthz"} <= set(paths)


def test_bad_requests_get_json_errors(service, small_pool):
    u, root = service["url"], small_pool["root"]
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "w2s-upload-*")))

    def status(r, code, words):
        assert r.status_code == code, (r.status_code, r.text)
        assert words in r.json()["detail"]

    status(_upload(u, small_pool["good"][0]), 401, "API key")
    status(_upload(u, small_pool["good"][0], headers={"X-API-Key": "wrong"}), 401, "API key")
    status(_upload(u, small_pool["bad"][1], headers=H), 422, "not a decodable video")
    status(_upload(u, small_pool["bad"][0], headers=H), 422, "not a decodable video")
    big = os.urandom(int(LIMIT_MB * 2**20) + 1000)
    status(requests.post(u + "/v1/score", files={"video": ("big.mp4", big)}, headers=H), 413, "limit")

    def chunks():  # no Content-Length: the limit is enforced on the streamed body
        yield (b'--b\r\nContent-Disposition: form-data; name="video"; filename="a.mp4"\r\n'
               b"Content-Type: application/octet-stream\r\n\r\n")
        for _ in range(int(LIMIT_MB) + 2):
            yield os.urandom(2**20)

    status(requests.post(u + "/v1/score", data=chunks(), headers={
        **H, "Content-Type": "multipart/form-data; boundary=b"}), 413, "limit")
    for bad_uri in ("/etc/hostname", f"{root}/../{os.path.basename(str(service['outside']))}/secret.mp4",
                    str(service["escape"])):
        status(requests.post(u + "/v1/score", json={"uri": bad_uri}, headers=H), 403, "outside the allowed roots")
    status(requests.post(u + "/v1/score", json={"uri": str(root / "missing.mp4")}, headers=H), 404, "no such file")
    status(requests.post(u + "/v1/score", json={"url": "x"}, headers=H), 422, "'uri'")
    status(requests.post(u + "/v1/score", data="{not json", headers={**H, "Content-Type": "application/json"}),
           422, "JSON")
    status(requests.post(u + "/v1/score", files={"clip": ("a.mp4", b"x")}, headers=H), 422, "'video'")
    status(requests.post(u + "/v1/score", data=b"x", headers={**H, "Content-Type": "text/plain"}), 415, "multipart")
    after = set(glob.glob(os.path.join(tempfile.gettempdir(), "w2s-upload-*")))
    assert after == before  # every upload's temp file removed


def test_200_concurrent_requests(service, small_pool, scorer):
    clips = small_pool["good"][:4]
    expect = {c: s.score for c, s in zip(clips, scorer.score(clips), strict=True)}

    def call(i):
        clip = clips[i % len(clips)]
        r = requests.post(service["url"] + "/v1/score", json={"uri": clip}, headers=H, timeout=600)
        return clip, r.status_code, r.json()

    with cf.ThreadPoolExecutor(200) as ex:
        results = list(ex.map(call, range(200)))
    assert [code for _, code, _ in results] == [200] * 200
    for clip, _, body in results:
        assert body["score"] == pytest.approx(expect[clip], abs=1e-3)
    sizes = [body["timings"]["batch_size"] for _, _, body in results]
    assert max(sizes) > 1  # @serve.batch really batched concurrent requests


def test_w2s_score_command_locally_and_over_http(service, scored, small_pool, scorer):
    clip = small_pool["good"][5]
    want = scorer.score([clip])[0].score
    w2s = os.path.join(os.path.dirname(sys.executable), "w2s")
    env = {**os.environ, KEY_ENV: KEY}
    for args in (["--model", str(scored["run"] / "student" / "stage1")],
                 ["--url", service["url"], "--api-key-env", KEY_ENV]):
        p = subprocess.run([w2s, "score", clip, "--json", *args], capture_output=True, text=True, env=env,
                           timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        assert json.loads(p.stdout.strip().splitlines()[-1])["score"] == pytest.approx(want, abs=1e-3)
    p = subprocess.run([w2s, "score", small_pool["bad"][1], "--url", service["url"], "--api-key-env", KEY_ENV],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 2 and "HTTP 422" in p.stdout


# -- the pipeline: stage 2 mined with this stage-1 student ----------------------------------------
STAGE2 = {"iterations": 2, "score_last_iteration": "false", "eval.proxy": "false", "mining.gmad_pairs": 8, "mining.synthetic_sources": 1,
          "mining.synthetic_pairs": 10, "mining.batch_size": 4}


def _pipeline(scored, *extra, **sets):
    cmd = [sys.executable, "-m", "ray_jobs.pipeline", "--config", CONFIG, *extra]
    for s in scored["sets"] + [f"{k}={v}" for k, v in {**STAGE2, **sets}.items()]:
        cmd += ["--set", s]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1500, env=env)


@pytest.fixture(scope="module")
def stage2(scored):
    """The pipeline on the run the stages above made: stage-1 steps are skipped, stage 2 runs."""
    p = _pipeline(scored)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    return {"run": scored["run"], "out": p.stdout}


def _stage_json(run, *parts):
    return json.loads((run.joinpath(*parts) / "stage.json").read_text())


def test_pipeline_skips_the_completed_stage_1_steps_and_runs_stage_2(stage2):
    out = stage2["out"]
    for step in ("metrics", "select", "score_teachers", "make_pairs", "cache_motion@1", "train_student@1",
                 "anchors@1", "score@1"):
        assert f": {step} (" in out and "skipped, completed" in out.split(f": {step} (")[1].splitlines()[0], step
    for step in ("heldout@1", "mine_pairs@2", "cache_motion@2", "train_student@2", "anchors@2", "heldout@2"):
        assert "skipped" not in out.split(f": {step} (")[1].splitlines()[0], step
    assert "score@2" not in out  # score_last_iteration: false
    assert "pipeline: 2 stages" in out and "held-out pair accuracy" in out
    record = json.loads((stage2["run"] / "pipeline.json").read_text())
    assert [r["stage"] for r in record["stages"]] == [1, 2]
    assert all(r["heldout_direction"] is None or 0 <= r["heldout_direction"] <= 1 for r in record["stages"])


def test_stage_2_pairs_are_mined_and_auditable(stage2):
    from w2s.conversation import LEVELS
    from w2s.mining import DIRECTIONS

    run = stage2["run"]
    pairs = pd.read_parquet(run / "pairs" / "stage2" / "pairs.parquet")
    info = _stage_json(run, "mine_pairs", "stage2")
    gmad, syn = pairs[pairs["kind"] == "gmad"], pairs[pairs["kind"] != "gmad"]
    assert len(gmad) == info["gmad_pairs"] > 0 and len(syn) == info["synthetic_kept"] <= 10
    assert set(gmad["weak_model"]) <= {"niqe", "lowlevel"} and set(gmad["direction"]) <= set(DIRECTIONS)
    probs = np.stack(pairs["student_probs"].to_list())
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert (gmad["label"] == np.asarray(LEVELS)[probs[: len(gmad)].argmax(1)]).all()  # the student's level
    assert (syn["predicted"] != syn["label"]).all()  # misclassified only
    assert gmad[["first_weak", "second_weak", "first_student", "second_student"]].notna().all().all()
    checked = pd.read_parquet(run / "mine_pairs" / "stage2" / "synthetic_checked.parquet")
    assert info["synthetic_checked"] == len(checked) > 0
    assert info["synthetic_misclassified"] == int((checked["predicted"] != checked["label"]).sum())
    stage1 = pd.read_parquet(run / "pairs" / "stage1" / "pairs.parquet")
    assert not set(checked["source"]) & set(stage1["source"])  # fresh sources
    assert len(json.loads((run / "pairs" / "stage2" / "llava.json").read_text())) == len(pairs)


def test_stage_2_starts_from_the_stage_1_student(stage2, scored):
    from w2s.student.model import W2SStudent
    from w2s.student.presets import create_student

    run = stage2["run"]
    info = _stage_json(run, "train_student", "stage2")
    assert info["config"]["train"]["init_from"] == str(run / "student" / "stage1")
    assert info["steps_done"] == 2 and (run / "student" / "stage2" / "anchors.json").exists()
    a = W2SStudent.from_pretrained(str(run / "student" / "stage1")).state_dict()
    b = W2SStudent.from_pretrained(str(run / "student" / "stage2")).state_dict()
    fresh = load_config(CONFIG, scored["sets"]).student
    c = create_student(fresh.preset, seed=fresh.seed + 1, image_size=fresh.image_size, patch_size=fresh.patch_size)[0]
    c = c.state_dict()

    def cos(x, y):
        x, y = (torch.cat([d[k].flatten().double() for k in sorted(d)]) for d in (x, y))
        return float(x @ y / (x.norm() * y.norm()))

    assert cos(a, b) > 0.99 > cos(b, c)  # two steps away from stage 1, far from a new student


def test_pipeline_rerun_skips_everything_and_from_redoes(stage2, scored):
    run = stage2["run"]
    p = _pipeline(scored)
    assert p.returncode == 0, p.stdout[-3000:]
    assert p.stdout.count("skipped, completed") == 14  # 4 + 5 per stage (score_last_iteration: false)
    before = _stage_json(run, "heldout", "stage2")["started"]
    import time

    time.sleep(1.1)
    p = _pipeline(scored, "--from", "heldout@2")
    assert p.returncode == 0, p.stdout[-3000:]
    assert p.stdout.count("skipped, completed") == 13
    assert _stage_json(run, "heldout", "stage2")["started"] != before
    p = _pipeline(scored, "--from", "nope")
    assert p.returncode == 2 and "not a step of this pipeline" in p.stderr


def test_gmad_sharded_on_ray_data_equals_the_driver_version(scored):
    """mining.shard_above: the levels as Ray Data groups give the same pairs as w2s.mining.gmad."""
    from ray_jobs.mine_pairs import gmad_sharded
    from w2s.mining import gmad

    rng = np.random.default_rng(5)
    n = 3000
    uris = np.array([f"v{i}" for i in range(n)])
    weak, student = rng.normal(size=n), rng.normal(size=n)
    a = gmad(uris, weak, student, levels=5, per_level=40, max_uses=2)
    b = gmad_sharded(uris, weak, student, levels=5, per_level=40, max_uses=2)
    key = ["level", "low", "high"]
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True)[key + ["gap"]],
                                  b.sort_values(key).reset_index(drop=True)[key + ["gap"]], check_dtype=False)
    assert len(a) == 5 * 40


# -- evaluation on benchmarks, and the run report, on this run ------------------------------------
def _evaluate(scored, *sets):
    cmd = [sys.executable, "-m", "ray_jobs.evaluate", "--config", CONFIG]
    for s in scored["sets"] + [f"{k}={v}" for k, v in STAGE2.items()] + list(sets):
        cmd += ["--set", s]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)


@pytest.fixture(scope="module")
def evaluated(stage2, scored, small_pool, tmp_path_factory):
    """evaluate on a KoNViD-1k folder in its official layout and a custom CSV with two bad videos;
    both students and both weak teachers. eval.proxy is on, but this run's subset took every good
    clip, so there are no held-out renders: the job says so and goes on."""
    from tests.benchmark_layouts import konvid_1k

    bench = tmp_path_factory.mktemp("benchmarks")
    good = small_pool["good"]
    konvid_1k(bench / "konvid", good[:4], [1.5, 2.5, 3.5, 4.5])
    missing = str(bench / "gone.mp4")
    (bench / "mine.csv").write_text("uri,mos\n" + "".join(f"{u},{m}\n" for u, m in zip(
        [*good[4:7], small_pool["bad"][1], missing], [10, 30, 20, 40, 50], strict=True)))
    benchmarks = f"[{{name: konvid-1k, root: {bench / 'konvid'}}}, {{name: mine, csv: {bench / 'mine.csv'}}}]"
    p = _evaluate(scored, f"eval.benchmarks={benchmarks}", "eval.proxy=true")
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    return {"run": scored["run"], "out": p.stdout, "err": p.stderr, "good": good, "missing": missing,
            "bench": benchmarks}


def test_evaluate_scores_every_benchmark_with_students_and_teachers(evaluated):
    run, out = evaluated["run"], evaluated["out"]
    s = pd.read_parquet(run / "evaluate" / "summary.parquet")
    assert set(s["model"]) == {"stage1", "stage2", "niqe", "lowlevel"}
    for _, g in s.groupby("model"):
        g = g.set_index("benchmark")
        assert set(g.index) == {"konvid-1k", "mine", "overall in-domain"}
        assert (g.loc["konvid-1k", "videos"], g.loc["konvid-1k", "failed"]) == (4, 0)
        assert (g.loc["mine", "videos"], g.loc["mine", "failed"]) == (3, 2)  # the text file and the missing one
        assert g.loc["overall in-domain", "videos"] == 4 and g.loc["mine", "domain"] == "custom"
        assert g.loc["konvid-1k", ["srcc", "krcc", "plcc", "plcc_raw"]].between(-1, 1).all()
    fails = pd.read_parquet(run / "failures" / "evaluate.parquet")
    assert len(fails) == 8 and fails["uri"].str.endswith(("text.mp4", "gone.mp4")).all()
    assert "| stage1 | konvid-1k | in-domain | 4 | 0 |" in out and "pairs/heldout is empty" in evaluated["err"]
    assert (run / "evaluate" / "summary.md").read_text().startswith("| model | benchmark |")


def test_evaluation_predictions_are_the_score_stages_scores(evaluated):
    """The same machinery as `score`: a benchmark video gets the score the pool scoring gave it."""
    run = evaluated["run"]
    pred = pd.read_parquet(run / "eval" / "stage1" / "predictions.parquet")
    assert {"model", "benchmark", "domain", "uri", "mos", "prediction", "error", "group"} <= set(pred.columns)
    kon = pred[pred["benchmark"] == "konvid-1k"].assign(real=lambda d: d["uri"].map(os.path.realpath))
    pool = rundir.read_table(str(run / "scores" / "stage1")).set_index("uri")["score"]
    np.testing.assert_allclose(kon["prediction"], pool.loc[kon["real"]].to_numpy(), atol=1e-4)
    teacher = rundir.read_table(str(run / "teacher_scores" / "niqe")).set_index("uri")["score"]
    mine = pd.read_parquet(run / "eval" / "niqe" / "predictions.parquet").dropna(subset=["prediction"])
    both = mine[mine["uri"].isin(teacher.index)]
    assert len(both) >= 3
    np.testing.assert_allclose(both["prediction"], teacher.loc[both["uri"]].to_numpy(), atol=1e-6)


def test_evaluate_rerun_scores_nothing_again(evaluated, scored):
    parts = sorted((evaluated["run"] / "eval" / "scores").rglob("*.parquet"))
    p = _evaluate(scored, f"eval.benchmarks={evaluated['bench']}", "eval.proxy=true", "eval.teachers=false")
    assert p.returncode == 0, p.stdout[-3000:]
    assert sorted((evaluated["run"] / "eval" / "scores").rglob("*.parquet")) == parts
    assert "| stage2 | mine |" in p.stdout and "| niqe |" not in p.stdout


def test_run_report_renders_every_section_and_every_image_loads(evaluated):
    import re
    import shutil

    run = evaluated["run"]
    w2s = os.path.join(os.path.dirname(sys.executable), "w2s")
    p = subprocess.run([w2s, "report", str(run)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    index = run / "report" / "index.html"
    assert str(index) in p.stdout
    page = index.read_text()
    for sec in ("overview", "subset", "teachers", "pairs", "training", "anchors", "scores", "evaluation"):
        assert f'<section id="{sec}">' in page, sec
    assert "could not be built" not in page and "http" not in page.replace("http-equiv", "")  # no CDN
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) >= 10 and all((run / "report" / s).is_file() for s in srcs)
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless browser installed (.ci/run installs Debian's chromium)")
    assert _images_in_browser(browser, index) == (len(srcs), [])
    (run / "report" / srcs[0]).write_bytes(b"not a png")  # the probe can fail
    assert _images_in_browser(browser, index) == (len(srcs), [srcs[0]])


def _images_in_browser(browser: str, index) -> tuple[int, list[str]]:
    """Open the page from disk in headless Chromium: (images, those that did not load)."""
    import re

    probe = index.with_name("_probe.html")
    script = ("<script>window.addEventListener('load',()=>{const i=[...document.images];document.title="
              "'PROBE '+i.length+' '+JSON.stringify(i.filter(x=>!(x.complete&&x.naturalWidth>0))"
              ".map(x=>x.getAttribute('src')));});</script>")
    probe.write_text(index.read_text().replace("</body>", script + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        p = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom",
                            probe.as_uri()], capture_output=True, text=True, timeout=120)
    probe.unlink()
    m = re.search(r"<title>PROBE (\d+) (\[.*?\])</title>", p.stdout)
    assert m, p.stdout[-2000:] + p.stderr[-2000:]
    return int(m.group(1)), json.loads(m.group(2))
