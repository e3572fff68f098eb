"""The stage registry: every stage the pipeline has, and the pipeline's plan of steps.

A stage is a module `ray_jobs/<name>.py` with a docstring (its `--help`) and `STAGE`, a
`ray_jobs.base.Stage` subclass (docs/adding_a_stage.md). Stages read and write the run
directory only through `w2s.rundir.RunDir` and never import each other. Modules are
imported when a stage runs, so `--help` is fast and `select` never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """A stage as the command line lists it (its module imported only when it runs)."""
    name: str
    help: str
    needs_ray: bool = True
    iterative: bool = False  # runs once per iteration N of the method (`--iteration N`)

    def module(self):
        return importlib.import_module(f"ray_jobs.{self.name}")

    @property
    def doc(self) -> str:
        return self.module().__doc__ or self.help

    def stage(self):
        """The stage object (ray_jobs.base.Stage)."""
        return self.module().STAGE()

    def run(self, cfg) -> dict:
        return self.stage().run(cfg)


STAGES: tuple[Entry, ...] = (
    Entry("metrics", "the nine low-level metrics of every manifest video"),
    Entry("select", "the distribution-matched subset (HiGHS LP/MILP)", needs_ray=False),
    Entry("score_teachers", "every weak teacher scores every selected video"),
    Entry("make_pairs", "ensemble + synthetic (+ held-out) pairs with labels, LLaVA export"),
    Entry("mine_pairs", "stage N >= 2: gMAD + misclassified synthetic pairs, labelled by student N-1",
          iterative=True),
    Entry("cache_motion", "SlowFast motion features of every video in the stage's pairs", iterative=True),
    Entry("train_student", "the pair student (Ray Train + DeepSpeed ZeRO), HF export", iterative=True),
    Entry("anchors", "the student's five anchor videos and their comparisons, stored with it", iterative=True),
    Entry("heldout", "the student's pair accuracy on the held-out synthetic pairs", iterative=True),
    Entry("score", "a 0-100 score for every video (anchors + MAP), with the student", iterative=True),
    Entry("evaluate", "students (+ weak teachers) on VQA benchmarks: SRCC, KRCC, PLCC per benchmark"),
)
BY_NAME = {s.name: s for s in STAGES}


@dataclass(frozen=True)
class Step:
    """One stage run of the pipeline: a stage, and for an iterative stage the method's iteration N."""
    stage: Entry
    n: int | None = None

    @property
    def name(self) -> str:
        return self.stage.name if self.n is None else f"{self.stage.name}@{self.n}"

    def config(self, cfg):
        return cfg if self.n is None else cfg.for_iteration(self.n)

    def record_path(self, cfg) -> str:
        """The stage.json this step leaves when it completes."""
        return self.stage.stage().record_path(self.config(cfg))

    def run(self, cfg) -> dict:
        return self.stage.run(self.config(cfg))


def get(name: str) -> Entry:
    if name not in BY_NAME:
        raise KeyError(f"unknown stage {name!r}; stages: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def pipeline(stages: int, score_last: bool = True, evaluate: bool = False) -> list[Step]:
    """The whole method: the stage-1 data, then per stage N: (mine_pairs for N > 1), cache_motion,
    train_student, anchors, heldout and score (the pool scores stage N+1 mines from; for the last
    stage only when `score_last`); then `evaluate` (every stage's student) when `evaluate`."""
    steps = [Step(get(s)) for s in ("metrics", "select", "score_teachers", "make_pairs")]
    for n in range(1, stages + 1):
        names = (["mine_pairs"] if n > 1 else []) + ["cache_motion", "train_student", "anchors", "heldout"]
        if n < stages or score_last:
            names.append("score")
        steps += [Step(get(s), n) for s in names]
    return steps + ([Step(get("evaluate"))] if evaluate else [])


def resolve(name: str, stage: int = 1) -> list[Step]:
    """One stage as a one-step list (an iterative one for `stage`)."""
    s = get(name)
    return [Step(s, stage if s.iterative else None)]
