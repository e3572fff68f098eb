"""Stage `score_teachers`: every configured teacher scores every selected video.

    python -m ray_jobs score_teachers --config configs/demo.yaml

Per teacher: read <run_dir>/select/selected.parquet with Ray Data -> CPU tasks
run the teacher's `prepare` (decode + its own sampling; small arrays out) ->
an actor pool runs `score_batch`, sized from the teacher's declared resources
(CPUs, GPUs, memory, batch size) -> <run_dir>/teacher_scores/<teacher>/*.parquet.
Resumable per teacher; bad videos go to failures/score_teachers.parquet.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import asdict

import pandas as pd
import pyarrow as pa

from ray_jobs.console import console
from ray_jobs.progress import Tracker, tick
from ray_jobs.runtime import skip_done
from w2s import rundir
from w2s.teachers import create_teacher
from w2s.video import VideoDecodeError

STAGE = "score_teachers"
SCORE_SCHEMA = pa.schema([("uri", pa.string()), ("teacher", pa.string()), ("score", pa.float64()),
                          ("error", pa.string())])


@functools.lru_cache(maxsize=8)
def _teacher(name: str, params: tuple):
    return create_teacher(name, **dict(params))


def prepare_batch(batch: pd.DataFrame, name: str, params: tuple) -> pd.DataFrame:
    """CPU side: one pickled payload (or an error) per video."""
    teacher = _teacher(name, params)
    payloads, errors = [], []
    for video in batch["uri"]:
        try:
            payloads.append(pickle.dumps(teacher.prepare(video), protocol=5))
            errors.append(None)
        except (VideoDecodeError, ValueError) as e:
            payloads.append(None)
            errors.append(getattr(e, "reason", str(e)))
    return pd.DataFrame({"uri": batch["uri"].to_numpy(), "payload": payloads, "error": errors})


class ModelSide:
    """Actor: loads the teacher once, scores batches of prepared payloads."""

    def __init__(self, name: str, params: tuple, progress=None):
        self.name, self.progress = name, progress
        self.teacher = create_teacher(name, **dict(params))
        self.teacher.setup()

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        ok = batch["error"].isna().to_numpy()
        scores = pd.Series(float("nan"), index=batch.index)
        if ok.any():
            items = [pickle.loads(p) for p in batch.loc[ok, "payload"]]
            scores[ok] = self.teacher.score_batch(items)
        out = pd.DataFrame({"uri": batch["uri"], "teacher": self.name, "score": scores.to_numpy(float),
                            "error": batch["error"]})
        tick(self.progress, len(out))
        return pa.Table.from_pandas(out, schema=SCORE_SCHEMA, preserve_index=False)


def run_teacher(cfg, run_dir: rundir.RunDir, spec) -> dict:
    import ray.data

    teacher = create_teacher(spec.name, **spec.params)
    res = teacher.resources
    params = tuple(sorted(spec.params.items()))
    out = run_dir.teacher_scores(spec.name)
    selected = ray.data.read_parquet(run_dir.selected()).select_columns(["uri"])
    n_in = selected.count()
    ds, n_done = skip_done(selected, out)
    if n_done < n_in:
        with Tracker(n_in - n_done, f"{STAGE} {spec.name}") as progress:
            ds = ds.repartition(target_num_rows_per_block=cfg.score.decode_batch_size)
            ds = ds.map_batches(prepare_batch, batch_format="pandas", batch_size=cfg.score.decode_batch_size,
                                num_cpus=cfg.score.decode_num_cpus or res.prep_num_cpus,
                                fn_kwargs={"name": spec.name, "params": params})
            ds = ds.map_batches(ModelSide, batch_format="pandas", batch_size=res.batch_size,
                                fn_constructor_kwargs={"name": spec.name, "params": params,
                                                       "progress": progress.handle},
                                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=res.max_actors),
                                num_cpus=res.num_cpus, num_gpus=res.num_gpus or None,
                                memory=res.memory_mb * 2**20)
            ds.write_parquet(out, min_rows_per_file=256)
    table = rundir.read_table(out)
    return {"teacher": spec.name, "scale": teacher.scale.name, "inputs": n_in, "already_done": n_done,
            "scored": int(table["error"].isna().sum()), "failed": int(table["error"].notna().sum()),
            "resources": asdict(res), "table": table}


def run(cfg) -> dict:
    run_dir = rundir.RunDir(cfg.run_dir)
    run_dir.require(run_dir.selected(), "selected videos", "select")
    record = run_dir.record(STAGE, cfg.model_dump())
    results = [run_teacher(cfg, run_dir, spec) for spec in cfg.score.teachers]
    bad = pd.concat([r["table"][r["table"]["error"].notna()].assign(
        reason=lambda d, t=r["teacher"]: t + ": " + d["error"]) for r in results], ignore_index=True)
    run_dir.write_failures(STAGE, bad if len(bad) else None)
    per = [{k: v for k, v in r.items() if k != "table"} for r in results]
    info = record.finish(teachers=per, failures=len(bad))
    rows = {}
    for r in results:
        s = r["table"]["score"]
        rows[f"{r['teacher']} ({r['scale']})"] = (
            f"{r['scored']} scored, {r['failed']} failed, {r['already_done']} already done; "
            f"score mean {s.mean():.3f} std {s.std():.3f}")
    console.summary(f"stage {STAGE}: {run_dir.root}", {**rows, "duration": f"{info['duration_s']} s",
                                                       "output": run_dir.teacher_scores()})
    return info


if __name__ == "__main__":  # the same as `python -m ray_jobs score_teachers`
    from ray_jobs.cli import stage_main

    stage_main(STAGE)
