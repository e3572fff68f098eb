"""The one row loop of the stages, on Ray Data: read the inputs (rows with a `uri`), leave out
the ones already in the output (resume), run an optional CPU-side `prepare` as tasks and the
`process` side as tasks or as an actor pool (a class: set up once per actor, called per batch),
with a progress bar, and write Parquet part files. `metrics`, `cache_motion`, `score`,
`score_teachers` and `evaluate` all run through `run_rows`."""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass, field
from typing import Any

from ray_jobs.progress import Tracker, tick
from ray_jobs.runtime import ray_args, skip_done
from w2s.config import Resources

# Part-file writes are I/O. With Ray's default of 1 CPU a write task waits for a whole free CPU
# behind the map tasks (0.9 CPU each): on 2 CPUs the first file came after half the rows, and
# everything computed but not written is redone after a kill (bench/scale.py).
WRITE_NUM_CPUS = 0.1


@dataclass(frozen=True)
class Side:
    """One map step: `fn` (a function: Ray tasks; a class: an actor pool of it) with its resources."""
    fn: Any
    resources: Resources
    kwargs: dict = field(default_factory=dict)
    name: str | None = None  # what the Ray dashboard calls its tasks / actors (default: fn's name)

    @property
    def actors(self) -> bool:
        return isinstance(self.fn, type)


@dataclass(frozen=True)
class RowJob:
    """`source` (a Parquet path/URI with a `uri` column, a list of URIs, or a Ray Dataset) ->
    [prepare] -> process -> part files under `out` (a list: one output per model, a video counts
    as done when it is in every one; they are written under `dest` by `partition_cols`)."""
    source: Any
    out: str | list[str]
    label: str
    process: Side
    prepare: Side | None = None
    rows_per_file: int = 256
    partition_cols: list[str] | None = None
    dest: str | None = None
    unit: str = "videos"


class _Ticking:
    """An actor pool's class: the stage's class, set up once, and the progress bar ticked per batch."""

    def __init__(self, cls, kwargs: dict, progress=None):
        self.inner, self.progress = cls(**kwargs), progress

    def __call__(self, batch):
        out = self.inner(batch)
        tick(self.progress, len(batch))
        return out


def _ticking_task(batch, fn, kwargs: dict, progress=None):
    out = fn(batch, **kwargs)
    tick(progress, len(batch))
    return out


def _source(src):
    import ray.data

    if isinstance(src, str):
        return ray.data.read_parquet(src).select_columns(["uri"])
    if isinstance(src, list):
        return ray.data.from_items([{"uri": u} for u in src])
    return src


def _named_task(name: str):
    def task(batch, fn, kwargs: dict, progress=None):
        return _ticking_task(batch, fn, kwargs, progress)

    task.__name__ = task.__qualname__ = name
    return task


def _map(ds, side: Side, batch_size: int, progress=None):
    import ray.data

    res, name = side.resources, side.name or side.fn.__name__
    if side.actors:
        actor = type(name, (_Ticking,), {"__qualname__": name})  # the name Ray shows for the pool
        return ds.map_batches(actor, batch_format="pandas", batch_size=batch_size,
                              fn_constructor_kwargs={"cls": side.fn, "kwargs": side.kwargs, "progress": progress},
                              compute=ray.data.ActorPoolStrategy(min_size=1, max_size=res.max_actors or 1),
                              **ray_args(res, actor=True))
    kwargs = {"fn": side.fn, "kwargs": side.kwargs, "progress": progress}
    return ds.map_batches(_named_task(name), batch_format="pandas", batch_size=batch_size, fn_kwargs=kwargs,
                          compute=ray.data.TaskPoolStrategy(size=res.max_actors), **ray_args(res, actor=False))


def run_rows(job: RowJob) -> tuple[int, int]:
    """Process every input row not in the output yet: (inputs, already done)."""
    ds = _source(job.source)
    n_in = ds.count()
    ds, n_done = skip_done(ds, job.out)
    if n_done >= n_in:
        return n_in, n_done
    size = job.process.resources.batch_size
    with Tracker(n_in - n_done, job.label, job.unit) as progress:
        # small blocks: one task per batch, so work spreads over every CPU / node at once
        ds = ds.repartition(target_num_rows_per_block=job.prepare.resources.batch_size if job.prepare else size)
        if job.prepare:
            ds = _map(ds, job.prepare, job.prepare.resources.batch_size)
        ds = _map(ds, job.process, size, progress.handle)
        ds.write_parquet(job.dest or job.out, min_rows_per_file=job.rows_per_file,
                         partition_cols=job.partition_cols, ray_remote_args={"num_cpus": WRITE_NUM_CPUS})
    return n_in, n_done


@functools.lru_cache(maxsize=8)
def _instance(cls, params: bytes):
    obj = cls()
    obj.setup(**pickle.loads(params))
    return obj


def stage_task(batch, cls, params: bytes):
    """Tasks of a row-wise stage: one set-up instance of the stage class per worker process."""
    stage = _instance(cls, params)
    return stage.table(stage.process(batch))


class StageActor:
    """The actor of a row-wise stage: the stage class set up once, `process` per batch."""

    def __init__(self, cls, params: bytes):
        self.stage = cls()
        self.stage.setup(**pickle.loads(params))

    def __call__(self, batch):
        return self.stage.table(self.stage.process(batch))

    def __del__(self):
        teardown = getattr(getattr(self, "stage", None), "teardown", None)
        if teardown:
            teardown()
