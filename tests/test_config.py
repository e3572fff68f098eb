import os
import re
import subprocess
import sys

import pytest
from pydantic import ValidationError

from w2s.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml"])
def test_shipped_recipes_load(name):
    cfg = load_config(os.path.join(ROOT, "configs", name))
    assert cfg.run_dir and cfg.manifest and cfg.select.bins == 7


def test_overrides_are_parsed_as_yaml():
    cfg = load_config(os.path.join(ROOT, "configs", "demo.yaml"),
                      ["select.n=5", "pairs.families=[blur, h265]", "ray.address=auto", "metrics.num_cpus=0.5"])
    assert cfg.select.n == 5 and cfg.pairs.families == ["blur", "h265"]
    assert cfg.ray.address == "auto" and cfg.metrics.num_cpus == 0.5


def test_unknown_and_invalid_keys_are_errors():
    with pytest.raises(ValidationError):
        load_config(os.path.join(ROOT, "configs", "demo.yaml"), ["select.nn=5"])
    with pytest.raises(ValidationError):
        load_config(os.path.join(ROOT, "configs", "demo.yaml"), ["select.bins=1"])
    with pytest.raises(ValueError):
        load_config(None, ["oops"])


def test_stage_cli_help_and_bad_config():
    r = subprocess.run([sys.executable, "-m", "ray_jobs.metrics", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "--config" in r.stdout and "--set" in r.stdout
    r = subprocess.run([sys.executable, "-m", "ray_jobs.select", "--config", "configs/demo.yaml", "--set", "bogus=1"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "bad config" in r.stderr and "Traceback" not in r.stderr


def test_motion_max_seconds_must_cover_what_training_reads():
    cfg = load_config(os.path.join(ROOT, "configs", "demo.yaml"), ["motion.max_seconds=2"])
    assert cfg.motion.max_seconds == 2
    with pytest.raises(ValueError, match="motion.max_seconds 1"):
        load_config(os.path.join(ROOT, "configs", "demo.yaml"), ["motion.max_seconds=1"])
    with pytest.raises(ValueError, match="frame_sampling first"):
        load_config(os.path.join(ROOT, "configs", "demo.yaml"), ["train.frame_sampling=spread"])



@pytest.mark.parametrize("old,new", [
    ("score.teachers=[{name: niqe}]", "teachers"), ("stages=2", "iterations"), ("stage=2", "iteration"),
    ("train.use_gpu=true", "train.num_gpus"), ("train.cpus_per_worker=1", "train.num_cpus"),
    ("motion.videos_per_batch=2", "motion.batch_size"), ("pairs.render_num_cpus=1", "pairs.num_cpus"),
    ("teachers=[{name: niqe, prep_num_cpus: 1}]", "teachers[].decode_num_cpus")])
def test_a_renamed_key_is_refused_with_its_new_name(old, new):
    with pytest.raises(ValueError, match=re.escape(new)):
        load_config(os.path.join(ROOT, "configs", "demo.yaml"), [old])


def test_the_config_reference_is_current():
    from w2s.configref import markdown

    with open(os.path.join(ROOT, "docs", "config.md")) as fh:
        assert fh.read() == markdown(), "docs/config.md is stale: run `make docs`"
    assert "| `teachers[].decode_num_cpus` |" in markdown() and "| `train.num_gpus` |" in markdown()
