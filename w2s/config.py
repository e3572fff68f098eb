"""Typed configuration of a run, loaded from YAML (+ `--set key.sub=value` overrides).

The same file runs locally (ray.address unset: a local Ray starts) and on a
cluster (`ray job submit` sets RAY_ADDRESS; `ray.address: auto` also works).
"""

from __future__ import annotations

from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored


class RayCfg(_Model):
    address: str | None = Field(None, description="Ray address; None = local Ray (or RAY_ADDRESS)")
    num_cpus: int | None = Field(None, description="CPUs of the local Ray (ignored on a cluster)")
    progress_bars: bool = True
    op_resource_reservation: bool = Field(
        True, description="Ray Data per-operator resource reservation; off on tiny (2-CPU) clusters, "
                          "where it leaves the map operator ~1 CPU (bench/stages.py)")


class MetricsCfg(_Model):
    batch_size: int = Field(4, ge=1, description="videos per Ray Data batch")
    num_cpus: float = Field(0.9, gt=0, description="CPUs per task (fractional: headroom for reads)")
    backend: Literal["pyav", "decord"] = "pyav"
    rows_per_file: int = Field(256, ge=1, description="rows buffered per output Parquet file")


class SelectCfg(_Model):
    n: int = Field(32, ge=1, description="videos to select")
    bins: int = Field(7, ge=2, description="histogram bins per metric (H)")
    reference: str | None = Field(None, description="Parquet of reference metrics; None = the pool itself")
    method: Literal["lp", "milp"] = "lp"
    time_limit_s: float = 600.0
    seed: int = 0


class TeacherCfg(_Model):
    name: str
    params: dict = Field(default_factory=dict)


class ScoreCfg(_Model):
    teachers: list[TeacherCfg] = Field(default_factory=lambda: [TeacherCfg(name="niqe"),
                                                                 TeacherCfg(name="lowlevel")])
    decode_num_cpus: float | None = Field(None, gt=0, description="override every teacher's CPU-side CPUs")
    decode_batch_size: int = 4


class PairsCfg(_Model):
    ensemble_pairs: int = Field(200, ge=0, description="pairs drawn from the selected subset")
    synthetic_sources: int = Field(4, ge=0, description="source videos per synthetic family")
    families: list[str] = Field(default_factory=lambda: ["blur", "noise", "stutter", "h264"])
    h265_preset: str = "veryslow"
    max_short_side: int | None = Field(None, description="scale larger sources down before distorting")
    render_num_cpus: float = 0.9
    seed: int = 0


class MotionCfg(_Model):
    checkpoint: str | None = Field(None, description="SlowFast-R50 K400 checkpoint path/URI; null = random init (demo only)")
    size: int = Field(224, ge=32, description="frames resized to size x size")
    batch_size: int = Field(4, ge=1, description="chunks per forward")
    videos_per_batch: int = Field(2, ge=1, description="videos per actor call")
    num_cpus: float = Field(0.9, gt=0, description="CPUs per actor")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per actor; null = 1 when the cluster has GPUs")
    max_actors: int = Field(2, ge=1)
    pairs: str | None = Field(None, description="pairs dataset; null = <run_dir>/pairs/stage1/pairs.parquet")


class RunCfg(_Model):
    run_dir: str = Field(..., description="local path or s3://... URI holding every stage's output")
    manifest: str = Field(..., description="Parquet manifest with a `uri` column")
    ray: RayCfg = RayCfg()
    metrics: MetricsCfg = MetricsCfg()
    select: SelectCfg = SelectCfg()
    score: ScoreCfg = ScoreCfg()
    pairs: PairsCfg = PairsCfg()
    motion: MotionCfg = MotionCfg()


def _set(tree: dict, dotted: str, raw: str) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        tree = tree.setdefault(k, {})
    tree[keys[-1]] = yaml.safe_load(raw)


def load_config(path: str | None, overrides: list[str] = ()) -> RunCfg:
    """Load YAML from `path` and apply `key.sub=value` overrides (values parsed as YAML)."""
    data = {}
    if path:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        _set(data, k.strip(), v)
    return RunCfg.model_validate(data)
