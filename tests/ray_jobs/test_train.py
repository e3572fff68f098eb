"""train_student on a local Ray: 2 workers with DeepSpeed ZeRO-2 and ZeRO-3, the HF export,
resume after the job is killed, a worker killed mid-run, and the student really learning
darken / blur directions on held-out source videos."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from bench import _learning as learning

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = os.path.join(ROOT, "configs", "demo.yaml")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    """The learning setup of bench/learning.py (bench/_learning.py), through the real stages, and
    a few of its training pairs for the runs that check plumbing (resume, restarts, order): a
    handful of steps decode 24 pairs, not all 300."""
    data = learning.build(tmp_path_factory.mktemp("train_pool"), tmp_path_factory.mktemp("train_run"))
    data["paths"]["few"] = str(data["run"] / "pairs_few.parquet")
    pd.read_parquet(data["paths"]["train"]).head(PLUMBING_PAIRS).to_parquet(data["paths"]["few"], index=False)
    return data


PLUMBING_PAIRS = 24


def _cmd(data, name, pairs="few", **extra):
    sets = data["sets"] + [f"{k}={v}" for k, v in {**learning.TRAIN, "train.name": name,
                                                   "train.pairs": data["paths"][pairs], **extra}.items()]
    cmd = [sys.executable, "-m", "ray_jobs.train_student", "--config", CONFIG]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def _env():
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}


def _run(data, name, pairs="few", **extra) -> dict:
    p = subprocess.run(_cmd(data, name, pairs, **extra), cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    return _stage(data, name)


def _stage(data, name) -> dict:
    return json.loads((data["run"] / "train_student" / name / "stage.json").read_text())


def _history(data, name) -> pd.DataFrame:
    return pd.read_parquet(data["run"] / "train_student" / name / "curves.parquet")


def _checkpoints(data, name) -> list[str]:
    d = data["run"] / "train_student" / "ray" / name
    return sorted(p.name for p in d.glob("checkpoint_*")) if d.exists() else []


def _registered(data, name) -> bool:
    """A checkpoint Ray Train has committed (in its snapshot), not just a directory being written."""
    snap = data["run"] / "train_student" / "ray" / name / "checkpoint_manager_snapshot.json"
    try:
        return bool(json.loads(snap.read_text()).get("checkpoint_results"))
    except (OSError, ValueError):
        return False


def _zero2(data) -> dict:
    if not (data["run"] / "student" / "zero2").exists():
        _run(data, "zero2", "train", **learning.LEARN)
    return _stage(data, "zero2")


def test_zero2_two_workers_trains_and_exports(train_data):
    from w2s.student.model import W2SStudent

    info = _zero2(train_data)
    hist = _history(train_data, "zero2")
    assert info["steps_done"] == info["total_steps"] == len(hist)
    assert list(hist["step"]) == list(range(1, info["total_steps"] + 1))
    assert info["export_max_abs_diff"] == 0.0  # ZeRO-2: the export reloads bit-identical
    model = W2SStudent.from_pretrained(str(train_data["run"] / "student" / "zero2"))
    assert model.config.level_token_ids and model.motion_projector[0].in_features == 256
    assert (train_data["run"] / "train_student" / "zero2" / "curves.png").stat().st_size > 10_000
    assert hist["loss"].tail(10).mean() < hist["loss"].head(5).mean()  # the objective goes down
    assert ((hist["lam"] >= 0) & (hist["lam"] <= 1)).all() and hist["temperature"].iloc[-1] == pytest.approx(0.1)
    # mirror_pairs: each unordered training pair once per epoch, shown in both orders
    assert hist["pairs_seen"].iloc[-1] == 2 * info["total_steps"] * 2 * 2


def test_tiny_student_ranks_held_out_sources_above_chance(train_data):
    """Learning really happens: darken / blur direction on the clips of the 2 held-out sources
    (5 clips, 200 ordered pairs), none of whose content was trained on."""
    _zero2(train_data)
    acc = learning.held_out_accuracy(train_data, "zero2")
    print(f"held-out pair direction accuracy {acc:.3f}")
    assert acc >= 0.8, f"held-out pair direction accuracy {acc:.3f}"


def test_zero3_resumes_after_the_job_is_killed(train_data):
    name, steps = "zero3", 8
    extra = {"train.zero_stage": 3, "train.max_steps": steps, "train.checkpoint_every": 3,
             "train.zero3_persistence_threshold": 0,
             "train.gradient_checkpointing": True}  # as configs/paper.yaml: the path stays tested
    proc = subprocess.Popen(_cmd(train_data, name, **extra), cwd=ROOT, env=_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline and not _registered(train_data, name):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its local Ray and the workers
    proc.wait()
    assert _checkpoints(train_data, name), "no checkpoint was written before the kill"
    info = _run(train_data, name, **extra)
    hist = _history(train_data, name)
    assert info["resumed_from"] and info["resumed_from"][0] % 3 == 0 and info["resumed_from"][0] >= 3
    assert list(hist["step"]) == list(range(1, steps + 1))  # every step exactly once
    assert info["steps_done"] == steps
    # ZeRO-3 runs its own linear kernel: equal to float rounding, not bitwise
    assert info["export_max_abs_diff"] < 1e-5


def test_killed_worker_restarts_from_last_checkpoint(train_data):
    name, steps = "killed", 10
    extra = {"train.zero_stage": 2, "train.max_steps": steps, "train.checkpoint_every": 2,
             "train.max_failures": 2}
    proc = subprocess.Popen(_cmd(train_data, name, **extra), cwd=ROOT, env=_env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline and not _registered(train_data, name):
        time.sleep(0.5)
    # a Ray Train worker of this job: a descendant of its driver (which started the local Ray)
    workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
               if "RayTrainWorker" in " ".join(p.cmdline())]
    assert workers, "no Ray Train worker process found"
    workers[-1].send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-5000:]
    info, hist = _stage(train_data, name), _history(train_data, name)
    assert info["attempts"] == 2 and info["resumed_from"][0] % 2 == 0
    assert list(hist["step"]) == list(range(1, steps + 1))
    assert info["steps_done"] == steps


def test_the_same_run_twice_gives_the_same_curve(train_data):
    """train.preserve_order (default): examples reach the workers in the same order on every run."""
    extra = {"train.zero_stage": 2, "train.max_steps": 4, "train.materialize": True}
    _run(train_data, "repeat_a", **extra)
    _run(train_data, "repeat_b", **extra)
    a, b = _history(train_data, "repeat_a"), _history(train_data, "repeat_b")
    assert len(a) == 4 and a["loss"].tolist() == b["loss"].tolist()
    assert a["pair_acc"].tolist() == b["pair_acc"].tolist()
