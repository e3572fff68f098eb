"""The run-directory contract: where every stage's inputs and outputs live, and how
a stage reads what an earlier one wrote. Every stage goes through `RunDir`; no
stage builds a path under the run directory by hand or imports another stage.

    <run_dir>/                                  (local path or s3://...)
      metrics/part-*.parquet, stage.json        metrics
      select/selected.parquet, histograms.png,  select (reference.parquet: the target's metrics)
        reference.parquet
      teacher_scores/<teacher>/part-*.parquet   score_teachers (stage.json in score_teachers/)
      media/<family>/<clip>_L<level>.mp4        make_pairs (rendered distortions)
      pairs/stage<N>/pairs.parquet, llava.json  make_pairs (N = 1), mine_pairs (N > 1: + mining columns)
      pairs/heldout/pairs.parquet               make_pairs: held-out synthetic pairs (never trained on)
      motion/part-*.parquet                     cache_motion (stage.json in cache_motion/stage<N>/)
      train_student/<name>/                     train_student: stage.json, curves.parquet/png,
                                                train_state.json, export_check.pt
      train_student/ray/<name>/                 Ray Train checkpoints
      student/<name>/                           the exported student (Hugging Face format)
      student/<name>/anchors.json, anchors/     anchors: the checkpoint's five anchors (stage.json
                                                in anchors/<name>/)
      scores/<checkpoint>/part-*.parquet        score: uri, score, c_0..c_4 (+ histogram.png, stage.json)
      mine_pairs/stage<N>/                      mine_pairs: stage.json, gmad_pairs.parquet,
                                                synthetic_checked.parquet (every checked pair, audit)
      eval/<checkpoint>/heldout_pairs.parquet   heldout: the student on the held-out pairs (stage.json
                                                in heldout/<checkpoint>/)
      eval/scores/model=<model>/part-*.parquet  evaluate: a student's or teacher's benchmark scores
      eval/<model>/predictions.parquet,         evaluate: per-video predictions (+ MOS) and the metrics
        summary.parquet                         per benchmark
      evaluate/summary.parquet, summary.md,     evaluate: every model's table, the benchmark videos,
        videos.parquet, proxy.csv, stage.json   the demo's proxy benchmark
      pipeline.json                             the pipeline: its closing table, per iteration
      report/index.html, *.png                  `w2s report`: the run report (from this directory alone)
      failures/<stage>.parquet                  uri, stage, reason
      logs/<time>-<stage>.log                   the driver's full log (quiet mode)

Reading a stage's output dedupes on its key, so a retried or resumed write never
shows a row twice; part files cut short by an interrupted write are deleted (their
rows are redone on the next run).
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from w2s import __version__, uri

ANCHORS_JSON = "anchors.json"  # in a student checkpoint: its anchors (the `anchors` stage)
STAGE_JSON = "stage.json"  # a stage run's record, where RunDir.stage_record puts it


def anchors_file(checkpoint: str) -> str:
    """anchors.json of any student checkpoint (a dir or URI)."""
    return uri.join(checkpoint, ANCHORS_JSON)


class MissingInput(RuntimeError):
    """An input a stage needs is not in the run directory: says which stage makes it."""

    def __init__(self, what: str, where: str, producer: str):
        super().__init__(f"no {what} under {where}: run the `{producer}` stage first")


# -- reading part-file outputs ------------------------------------------------------------------
def parquet_files(path: str) -> list[str]:
    """The Parquet parts directly under a stage's output directory."""
    return uri.list_files(path, ".parquet")


def _parts(path: str, columns=None):
    """Each readable part of a stage output as pandas, one at a time, with `columns` (those of them
    the part has; None: all). A part cut short by an interrupted write is removed: its rows are redone."""
    fsys, _ = uri.filesystem(path)
    for f in parquet_files(path):
        try:
            with pq.ParquetFile(f, filesystem=fsys) as part:
                cols = None if columns is None else [c for c in columns if c in part.schema_arrow.names]
                table = part.read(columns=cols)
        except (pa.ArrowInvalid, OSError):
            fsys.delete_file(f)
            continue
        yield table.to_pandas()


def read_table(path: str, key: str | tuple[str, ...] | None = "uri", columns=None):
    """All rows of a stage output as pandas, deduplicated and sorted on `key` (part files are named
    by the writer, so their order is not the same between runs). Corrupt parts are removed."""
    import pandas as pd

    frames = list(_parts(path, columns))
    if not frames:
        return pd.DataFrame(columns=columns) if columns else pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    if key is not None and len(df):
        keys = [key] if isinstance(key, str) else list(key)
        df = df.drop_duplicates(subset=keys, keep="first").sort_values(keys, kind="stable")
    return df.reset_index(drop=True)


def read_summary(path: str, columns: tuple[str, ...] | list[str] = ()):
    """A stage output read for its summary, without holding all of it: (rows, failed).

    `rows`: every row's `error` and `columns`, deduplicated on a 64-bit hash of its uri, in no set
    order; `failed`: the uri and error of the failed rows, sorted. About 8 bytes a row plus the
    columns asked for, where read_table holds every column (at 1.5M rows the URIs alone are ~1 GB
    of pandas; docs/SCALE.md)."""
    import pandas as pd

    keep, bad = [], []
    for df in _parts(path, ["uri", "error", *columns]):
        if "error" not in df:
            df = df.assign(error=pd.Series([None] * len(df), dtype=object))
        bad.append(df.loc[df["error"].notna(), ["uri", "error"]])
        key = pd.util.hash_pandas_object(df["uri"], index=False).to_numpy()
        keep.append(df.reindex(columns=["error", *columns]).assign(_key=key))
    if not keep:
        return pd.DataFrame(columns=["error", *columns]), pd.DataFrame(columns=["uri", "error"])
    rows = pd.concat(keep, ignore_index=True).drop_duplicates("_key").drop(columns="_key")
    failed = pd.concat(bad, ignore_index=True).drop_duplicates("uri").sort_values("uri", kind="stable")
    return rows.reset_index(drop=True), failed.reset_index(drop=True)


def done_uris(path: str) -> list[str]:
    """URIs already in a stage output (resume: these are not processed again)."""
    return list(read_table(path, columns=["uri"])["uri"])


def drop_done(batch, done: frozenset):
    """Resume filter: the rows of a pandas batch whose uri is not in `done`."""
    return batch[~batch["uri"].isin(done)]


def ok_rows(table):
    """Rows without an error."""
    return table[table["error"].isna()] if "error" in table else table


# -- the record of a stage run --------------------------------------------------------------------
class StageRecord:
    """Collects what a stage did and writes its stage.json at the end."""

    def __init__(self, path: str, stage: str, config: dict):
        self.path, self.stage, self.config = path, stage, config
        self.t0 = time.time()
        self.data: dict = {}

    def finish(self, **fields) -> dict:
        self.data.update(fields)
        payload = {"stage": self.stage, "w2s_version": __version__, "config": self.config,
                   "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.t0)),
                   "duration_s": round(time.time() - self.t0, 2), **self.data}
        uri.write_json(self.path, payload)
        return payload


class RunDir:
    """Paths and readers of one run directory (local path or URI)."""

    def __init__(self, root: str):
        self.root = uri.absolute(str(root)).rstrip("/")

    def __repr__(self) -> str:
        return f"RunDir({self.root!r})"

    @property
    def is_local(self) -> bool:
        return uri.is_local(self.root)

    def path(self, *parts: str) -> str:
        return uri.join(self.root, *parts)

    # -- bookkeeping ------------------------------------------------------------------------------

    def record(self, stage: str, config: dict, name: str | None = None, label: str | None = None) -> StageRecord:
        """The record of a stage run, at stage_record(stage, name); its `stage` field is `label`
        (default: the name of an iterative stage's run, else the stage)."""
        return StageRecord(self.stage_record(stage, name), label or name or stage, config)

    def failures(self, stage: str) -> str:
        return self.path("failures", f"{stage}.parquet")

    def write_failures(self, stage: str, failures=None) -> str:
        """Replace failures/<stage>.parquet with the given (uri, reason) rows (None: no failures)."""
        import pandas as pd

        failures = failures if failures is not None else {"uri": [], "reason": []}
        df = pd.DataFrame({"uri": list(failures["uri"]), "stage": stage, "reason": list(failures["reason"])})
        return uri.write_parquet(self.failures(stage), df)

    def logs(self) -> str:
        return self.path("logs")

    # -- stage outputs ----------------------------------------------------------------------------
    def metrics(self) -> str:
        return self.path("metrics")

    def selected(self) -> str:
        return self.path("select", "selected.parquet")

    def histograms(self) -> str:
        return self.path("select", "histograms.png")

    def select_reference(self) -> str:
        """The reference metrics the subset was matched to (a copy: the report reads it)."""
        return self.path("select", "reference.parquet")

    def teacher_scores(self, teacher: str | None = None) -> str:
        return self.path("teacher_scores", *([teacher] if teacher else []))

    def media(self, family: str | None = None) -> str:
        return self.path("media", *([family] if family else []))

    def rendered(self, family: str, source: str, level: int) -> str:
        """The rendered video of one (source, family, level)."""
        stem = source.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return uri.join(self.media(family), f"{stem}_L{level}.mp4")

    def pairs_dir(self, stage: int | str = 1) -> str:
        """pairs/stage<N> (an int), or pairs/<name> (e.g. "heldout")."""
        return self.path("pairs", f"stage{stage}" if isinstance(stage, int) else stage)

    def pairs(self, stage: int | str = 1) -> str:
        return uri.join(self.pairs_dir(stage), "pairs.parquet")

    def llava(self, stage: int | str = 1) -> str:
        return uri.join(self.pairs_dir(stage), "llava.json")

    def heldout_pairs(self) -> str:
        return self.pairs("heldout")

    def mining_dir(self, stage: int) -> str:
        return self.path("mine_pairs", f"stage{stage}")

    def mining_table(self, stage: int, name: str) -> str:
        """mine_pairs/stage<N>/<name>.parquet: gmad_pairs, synthetic_checked (audit tables)."""
        return uri.join(self.mining_dir(stage), f"{name}.parquet")

    def motion(self) -> str:
        return self.path("motion")

    def train_dir(self, name: str) -> str:
        return self.path("train_student", name)

    def curves(self, name: str, png: bool = False) -> str:
        """One row per optimizer step (curves.parquet), or its plot (curves.png)."""
        return uri.join(self.train_dir(name), "curves.png" if png else "curves.parquet")

    def train_state(self, name: str) -> str:
        return uri.join(self.train_dir(name), "train_state.json")

    def export_check(self, name: str) -> str:
        """A probe batch and the workers' logits on it, to check the export against."""
        return uri.join(self.train_dir(name), "export_check.pt")

    def train_storage(self) -> str:
        return self.path("train_student", "ray")

    def student(self, name: str) -> str:
        return self.path("student", name)

    def anchors(self, name: str) -> str:
        """anchors.json of the exported student `name`."""
        return anchors_file(self.student(name))

    def scores(self, checkpoint: str) -> str:
        return self.path("scores", checkpoint)

    def score_histogram(self, checkpoint: str) -> str:
        return uri.join(self.scores(checkpoint), "histogram.png")

    def eval(self, checkpoint: str) -> str:
        return self.path("eval", checkpoint)

    def heldout_results(self, checkpoint: str) -> str:
        return uri.join(self.eval(checkpoint), "heldout_pairs.parquet")

    def eval_scores(self, model: str | None = None) -> str:
        """A model's raw scores of every benchmark video (part files; resumable): one partition
        model=<model> of eval/scores/ (the students of one sampling are written in one pass)."""
        return self.path("eval", "scores", *([f"model={model}"] if model else []))

    def eval_predictions(self, model: str) -> str:
        """benchmark, domain, uri, mos, prediction, error, model: one row per benchmark video."""
        return uri.join(self.eval(model), "predictions.parquet")

    def eval_summary(self, model: str | None = None) -> str:
        """One model's metrics per benchmark, or (no model) every model's, as the evaluate stage wrote them."""
        return uri.join(self.eval(model), "summary.parquet") if model else self.path("evaluate", "summary.parquet")

    def evaluate_dir(self) -> str:
        """evaluate/: stage.json, videos.parquet (every benchmark video), proxy.csv, summary.parquet/.md."""
        return self.path("evaluate")

    def pipeline_record(self) -> str:
        """pipeline.json: the pipeline's closing table (per iteration: pairs, accuracy, mining)."""
        return self.path("pipeline.json")

    def evaluate_file(self, name: str) -> str:
        """evaluate/<name>: videos.parquet, proxy.csv, summary.md."""
        return uri.join(self.evaluate_dir(), name)

    def report_dir(self) -> str:
        return self.path("report")

    def stage_record(self, stage: str, name: str | None = None) -> str:
        """Where a stage run writes its stage.json when it completes (`name`: the student of an
        iterative stage, e.g. stage2); the pipeline skips a step whose record exists."""
        if stage == "score":
            return uri.join(self.scores(name), STAGE_JSON)
        return self.path(stage, *([name] if name else []), STAGE_JSON)

    def students(self) -> list[str]:
        """Names of the students trained in this run (train_student/<name>/), stage order."""
        import re

        names = [n for n in uri.list_dirs(self.path("train_student")) if n != "ray"]
        return sorted(names, key=lambda n: (0, int(m.group(1)), n) if (m := re.fullmatch(r"stage(\d+)", n))
                      else (1, 0, n))

    def teachers(self) -> list[str]:
        """Names of the teachers whose scores are in teacher_scores/."""
        return uri.list_dirs(self.teacher_scores())

    def pair_sets(self) -> list[str]:
        """The pair sets under pairs/ (stage1, stage2, ..., heldout)."""
        return uri.list_dirs(self.path("pairs"))

    # -- reading what earlier stages wrote --------------------------------------------------------
    def require(self, path: str, what: str, producer: str) -> str:
        """`path` if it exists, else MissingInput naming the stage that makes it."""
        if not uri.exists(path):
            raise MissingInput(what, path, producer)
        return path

    def read_metrics(self):
        """The measured videos (failed ones left out)."""
        t = read_table(self.metrics())
        if t.empty:
            raise MissingInput("metrics", self.metrics(), "metrics")
        return ok_rows(t).reset_index(drop=True)

    def read_teacher_scores(self, teacher: str):
        """uri -> score of one teacher (videos it failed on left out)."""
        t = read_table(self.teacher_scores(teacher))
        if t.empty:
            raise MissingInput(f"scores of teacher {teacher!r}", self.teacher_scores(teacher), "score_teachers")
        return ok_rows(t).set_index("uri")["score"].rename(teacher)

    def ensemble_table(self, teachers: list[str]):
        """Per video scored by every teacher (index = uri, sorted): each teacher's raw score, its
        z-score (`z_<teacher>`; a teacher with zero spread has none and is left out of mu/var),
        and mu / var over the z-scored teachers (METHOD.md section 2)."""
        import pandas as pd

        from w2s.pairs import ensemble_stats, normalise_teachers

        raw = pd.concat([self.read_teacher_scores(t) for t in teachers], axis=1, join="inner")
        z = normalise_teachers(raw)
        return pd.concat([raw, z.add_prefix("z_"), ensemble_stats(z)], axis=1).sort_index()

    def read_ensemble(self, teachers: list[str]):
        """Per video scored by every teacher: mu and var over the z-scored teachers."""
        return self.ensemble_table(teachers)[["mu", "var"]]

    def ensemble_file(self, stage: int | str = 1) -> str:
        """pairs/stage<N>/ensemble.parquet: the table the ensemble labels came from."""
        return uri.join(self.pairs_dir(stage), "ensemble.parquet")

    def write_pairs(self, pairs, stage: int | str = 1) -> str:
        """pairs/stage<N>/pairs.parquet and its LLaVA conversation export llava.json."""
        import json

        from w2s.pairs import to_conversations

        uri.write_parquet(self.pairs(stage), pairs)
        uri.write_bytes(self.llava(stage), json.dumps(to_conversations(pairs), indent=1).encode())
        return self.pairs(stage)

    def read_pairs(self, path: str | None = None, stage: int | str = 1, columns=None):
        """A pairs table: `path` when given (a config override), else pairs/stage<stage>."""
        producer = "make_pairs" if stage in (1, "heldout") else f"mine_pairs --iteration {stage}"
        return uri.read_parquet(self.require(path or self.pairs(stage), "pairs", producer), columns=columns)

    def motion_index(self):
        """uri, num_chunks, error of every cached video (no feature bytes)."""
        t = read_table(self.motion(), columns=["uri", "num_chunks", "error"])
        if t.empty:
            raise MissingInput("motion features", self.motion(), "cache_motion")
        return t

    def _motion_rows(self, uris=None):
        t = ok_rows(read_table(self.motion(), columns=["uri", "num_chunks", "features", "error"]))
        return t[t["uri"].isin(set(uris))] if uris is not None else t

    def motion_bytes(self, uris=None) -> dict[str, bytes]:
        """uri -> float32 feature bytes of the cached videos (failed ones left out)."""
        t = self._motion_rows(uris)
        return dict(zip(t["uri"], t["features"], strict=True))

    def read_motion(self, uris=None) -> dict[str, np.ndarray]:
        """uri -> (num_chunks, 256) float32 from the motion cache."""
        t = self._motion_rows(uris)
        return {u: np.frombuffer(b, np.float32).reshape(int(n), -1)
                for u, n, b in zip(t["uri"], t["num_chunks"], t["features"], strict=True)}
