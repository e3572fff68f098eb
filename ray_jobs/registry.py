"""The stage registry: every stage the pipeline has, in the order `all` runs them.

A stage is a module `ray_jobs/<name>.py` with a docstring (its `--help`) and
`run(cfg: RunCfg) -> dict` (what it did; it also writes its stage.json). Stages
read and write the run directory only through `w2s.rundir.RunDir` and never
import each other. Modules are imported when a stage runs, so `--help` is fast
and `select` never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    help: str
    needs_ray: bool = True

    def module(self):
        return importlib.import_module(f"ray_jobs.{self.name}")

    @property
    def doc(self) -> str:
        return self.module().__doc__ or self.help

    def run(self, cfg) -> dict:
        return self.module().run(cfg)


STAGES: tuple[Stage, ...] = (
    Stage("metrics", "the nine low-level metrics of every manifest video"),
    Stage("select", "the distribution-matched subset (HiGHS LP/MILP)", needs_ray=False),
    Stage("score_teachers", "every weak teacher scores every selected video"),
    Stage("make_pairs", "ensemble + synthetic pairs with labels, LLaVA export"),
    Stage("cache_motion", "SlowFast motion features of every video in the pairs"),
    Stage("train_student", "the pair student (Ray Train + DeepSpeed ZeRO), HF export"),
    Stage("anchors", "the student's five anchor videos and their comparisons, stored with it"),
    Stage("score", "a 0-100 score for every video (anchors + MAP), with the student"),
)
BY_NAME = {s.name: s for s in STAGES}


def get(name: str) -> Stage:
    if name not in BY_NAME:
        raise KeyError(f"unknown stage {name!r}; stages: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def resolve(name: str) -> list[Stage]:
    """The stages `name` stands for: one stage, or every stage in order for `all`."""
    return list(STAGES) if name == "all" else [get(name)]
