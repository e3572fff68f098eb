"""The one shape of a stage. A stage declares its `name` and implements its domain logic; the
base owns the rest, once: the inputs it requires, its stage.json (StageRecord, at the path
RunDir.stage_record gives), its failures file, the summary on the terminal, and (RowStage) the
row loop: resume, progress, the Ray resources from one declaration, part files.

    class Measure(RowStage):                     # a row-wise stage (docs/adding_a_stage.md)
        name, schema = "measure", SCHEMA
        def resources(self, cfg): return cfg.metrics          # w2s.config.Resources
        def source(self, ctx): return ctx.cfg.manifest
        def output(self, ctx): return ctx.run_dir.path("measure")
        def setup(self, backend): self.backend = backend     # once per task process / actor
        def process(self, batch): return pd.DataFrame(...)    # uri, ..., error

`python -m ray_jobs.<stage>`: the module ends with `if __name__ == "__main__": <Stage>.main()`.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa

from ray_jobs.console import console
from ray_jobs.rows import RowJob, Side, StageActor, run_rows, stage_task
from w2s import rundir
from w2s.config import Resources, stage_name


@dataclass
class Context:
    """One run of a stage: its config, run directory, record name, failures and summary rows."""
    cfg: Any
    run_dir: rundir.RunDir
    name: str | None = None  # the record's name for an iterative stage (e.g. stage2)
    rows: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    after: Any = None  # called after the summary (e.g. evaluate prints its tables)

    def fail(self, frame: pd.DataFrame | None) -> int:
        """Record failed rows (columns uri, reason); how many."""
        if frame is not None and len(frame):
            self.failures.append(frame[["uri", "reason"]])
            return len(frame)
        return 0

    @property
    def failed(self) -> int:
        return sum(len(f) for f in self.failures)


class Stage:
    name: ClassVar[str] = ""
    iterative: ClassVar[bool] = False  # runs once per iteration N of the method (`--iteration N`)
    writes_failures: ClassVar[bool] = True  # failures/<name>.parquet, replaced on every run

    # -- what a stage declares ----------------------------------------------------------------
    def record_name(self, cfg) -> str | None:
        """The name of this run's record: None, or for an iterative stage its student (stage<N>)."""
        return cfg.student_name if self.iterative else None

    def check(self, ctx: Context) -> None:
        """Fail early (rundir.MissingInput, ValueError) before any work or record."""

    def done_before(self, ctx: Context) -> dict | None:
        """A stage that can tell its output is current returns its earlier record (nothing runs)."""
        return None

    def execute(self, ctx: Context) -> dict:
        """The domain logic: the fields of stage.json; summary rows go to ctx.rows, failures to ctx.fail."""
        raise NotImplementedError

    def record_stage(self, ctx: Context) -> str:
        """The `stage` field of stage.json: the record's name (an iterative stage) or the stage's."""
        return ctx.name or self.name

    def title(self, ctx: Context) -> str:
        return f"stage {self.name}: " + (f"{ctx.name} ({ctx.run_dir.root})" if ctx.name else ctx.run_dir.root)

    # -- what the base owns --------------------------------------------------------------------
    def record_path(self, cfg) -> str:
        """Where a completed run's stage.json is (the pipeline skips a step whose record exists;
        RunDir.stage_record is its one home)."""
        return rundir.RunDir(cfg.run_dir).stage_record(self.name, self.record_name(cfg))

    def run(self, cfg) -> dict:
        ctx = Context(cfg, rundir.RunDir(cfg.run_dir), self.record_name(cfg))
        prev = self.done_before(ctx)
        if prev is not None:
            return prev
        self.check(ctx)
        record = ctx.run_dir.record(self.name, cfg.model_dump(), ctx.name, label=self.record_stage(ctx))
        fields = self.execute(ctx)
        if self.writes_failures:
            failed = pd.concat(ctx.failures, ignore_index=True) if ctx.failures else None
            ctx.run_dir.write_failures(self.name, failed)
        info = record.finish(**fields)
        console.summary(self.title(ctx), {**ctx.rows, "duration": f"{info['duration_s']} s"})
        if ctx.after:
            ctx.after()
        return info

    @classmethod
    def main(cls) -> None:
        """`python -m ray_jobs.<stage>`: the same as `python -m ray_jobs <stage>`."""
        from ray_jobs.cli import stage_main

        stage_main(cls.name)


class RowStage(Stage):
    """A stage that maps every input row (a `uri`) to one output row; resumable by uri."""
    schema: ClassVar[pa.Schema]  # the output rows (with `uri` and `error`)
    actors: ClassVar[bool] = False  # process on an actor pool (a model loaded once) instead of tasks
    unit: ClassVar[str] = "videos"
    ray_name: ClassVar[str | None] = None  # what the Ray dashboard calls its tasks / actors (default: the class)
    # the columns `report` reads besides `error` (rundir.read_summary: the rest, URIs included, are not
    # read back onto the driver); None: every column (rundir.read_table)
    summary_columns: ClassVar[tuple[str, ...] | None] = None

    def resources(self, cfg) -> Resources:
        raise NotImplementedError

    def source(self, ctx: Context):
        """A Parquet path/URI with a `uri` column, a list of URIs, or a Ray Dataset."""
        raise NotImplementedError

    def output(self, ctx: Context) -> str:
        raise NotImplementedError

    def params(self, cfg) -> dict:
        """The keyword arguments of `setup` (picklable: they travel to every task / actor)."""
        return {}

    def prepare(self, cfg) -> Side | None:
        """An optional CPU-side step before `process` (e.g. decoding, as Ray tasks)."""
        return None

    def setup(self, **params) -> None:
        """Once per task process or actor: load what `process` needs."""

    def process(self, batch: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def teardown(self) -> None:
        """When an actor goes away."""

    def rows_per_file(self, cfg) -> int:
        return 256

    def report(self, ctx: Context, table: pd.DataFrame, n_in: int, n_done: int) -> dict:
        """The stage.json fields (and ctx.rows) from every output row (its `summary_columns`)."""
        return {}

    def execute(self, ctx: Context) -> dict:
        cfg, out = ctx.cfg, self.output(ctx)
        fn = StageActor if self.actors else stage_task
        side = Side(fn, self.resources(cfg), {"cls": type(self), "params": pickle.dumps(self.params(cfg))},
                    name=self.ray_name or type(self).__name__)
        label = self.name if not ctx.name else f"{self.name} {ctx.name}"
        n_in, n_done = run_rows(RowJob(self.source(ctx), out, label, side, prepare=self.prepare(cfg),
                                       rows_per_file=self.rows_per_file(cfg), unit=self.unit))
        if self.summary_columns is None:
            table = rundir.read_table(out)
            bad = table[table["error"].notna()] if "error" in table else table.iloc[:0]
        else:
            table, bad = rundir.read_summary(out, self.summary_columns)
        ctx.fail(bad.assign(reason=bad["error"]) if len(bad) else None)
        return self.report(ctx, table, n_in, n_done)

    def table(self, df: pd.DataFrame) -> pa.Table:
        """`process`'s rows with the declared schema (a batch of only bad rows must not turn into nulls)."""
        return pa.Table.from_pandas(df.reindex(columns=self.schema.names), schema=self.schema, preserve_index=False)


def iteration_record(cfg) -> str:
    """The record name of an iterative stage that works on the iteration, not on a student."""
    return stage_name(cfg.iteration)
