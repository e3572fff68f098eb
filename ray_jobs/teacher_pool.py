"""The weak teachers' scoring machinery, shared by `score_teachers` (the subset) and
`evaluate` (benchmarks).

Ray Data reads a Parquet of `uri`s -> CPU tasks run the teacher's `prepare` (decode +
its own sampling; small arrays out) -> an actor pool runs `score_batch`, sized from the
teacher's declared resources (CPUs, GPUs, memory, batch size) -> part files (uri,
teacher, score, error) under `out`. Resumable; decode errors are rows, not crashes.
"""

from __future__ import annotations

import dataclasses
import functools
import pickle

import pandas as pd
import pyarrow as pa

from ray_jobs.console import console
from ray_jobs.rows import RowJob, Side, run_rows
from ray_jobs.runtime import ray_args
from w2s.config import Resources
from w2s.teachers import create_teacher
from w2s.video import VideoDecodeError

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

    def __init__(self, name: str, params: tuple):
        self.name = name
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
        return pa.Table.from_pandas(out, schema=SCORE_SCHEMA, preserve_index=False)


def teacher_resources(spec):
    """The teacher's declared resources with the config's overrides (teachers[].num_gpus, ...)."""
    return dataclasses.replace(create_teacher(spec.name, **spec.params).resources, **spec.overrides())


def sides(spec) -> tuple[Resources, Resources]:
    """(CPU side per task, model side per actor) of one teacher, in the stages' one declaration."""
    res = teacher_resources(spec)
    prep = Resources(num_cpus=res.decode_num_cpus, batch_size=spec.decode_batch_size)
    model = Resources(num_cpus=res.num_cpus, num_gpus=res.num_gpus, memory_mb=res.memory_mb,
                      max_actors=res.max_actors, batch_size=res.batch_size)
    return prep, model


def warn_unplaceable(name: str, request: dict) -> None:
    """Say so when no node alive now could hold one model actor: its pool then waits for the
    autoscaler to add a larger node (on a fixed cluster it would wait forever)."""
    import ray

    need = {"CPU": request["num_cpus"], "GPU": request.get("num_gpus", 0), "memory": request.get("memory", 0)}
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if nodes and not any(all(n.get(k, 0) >= v for k, v in need.items() if v) for n in nodes):
        largest = max(n.get("memory", 0) for n in nodes) / 2**20
        console.warn(f"teacher {name}: no node alive can hold a model actor ({request['num_cpus']} CPU, "
                     f"{need['GPU']} GPU, {need['memory'] / 2**20:.0f} MB; the largest node has {largest:.0f} MB): "
                     f"the pool waits for the autoscaler; on a fixed cluster lower teachers[].memory_mb / "
                     f"num_gpus")


def score_videos(cfg, spec, source: str, out: str, label: str) -> tuple[int, int]:
    """Score the videos of `source` (Parquet with `uri`) not yet in `out` with one teacher:
    (inputs, already done)."""
    prep, model = sides(spec)
    params = tuple(sorted(spec.params.items()))
    warn_unplaceable(spec.name, ray_args(model, actor=True))
    kwargs = {"name": spec.name, "params": params}
    return run_rows(RowJob(source, out, label, process=Side(ModelSide, model, kwargs),
                           prepare=Side(prepare_batch, prep, kwargs)))
