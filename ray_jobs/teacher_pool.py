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
from ray_jobs.progress import Tracker, tick
from ray_jobs.runtime import actor_resources, skip_done
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


def teacher_resources(spec):
    """The teacher's declared resources with the config's overrides (score.teachers[].num_gpus, ...)."""
    return dataclasses.replace(create_teacher(spec.name, **spec.params).resources, **spec.overrides())


def warn_unplaceable(name: str, request: dict) -> None:
    """Say so when no node alive now could hold one model actor: its pool then waits for the
    autoscaler to add a larger node (on a fixed cluster it would wait forever)."""
    import ray

    need = {"CPU": request["num_cpus"], "GPU": request["num_gpus"] or 0, "memory": request["memory"] or 0}
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if nodes and not any(all(n.get(k, 0) >= v for k, v in need.items() if v) for n in nodes):
        largest = max(n.get("memory", 0) for n in nodes) / 2**20
        console.warn(f"teacher {name}: no node alive can hold a model actor ({request['num_cpus']} CPU, "
                     f"{need['GPU']} GPU, {need['memory'] / 2**20:.0f} MB; the largest node has {largest:.0f} MB): "
                     f"the pool waits for the autoscaler; on a fixed cluster lower score.teachers[].memory_mb / "
                     f"num_gpus")


def score_videos(cfg, spec, source: str, out: str, label: str) -> tuple[int, int]:
    """Score the videos of `source` (Parquet with `uri`) not yet in `out` with one teacher:
    (inputs, already done)."""
    import ray.data

    res = teacher_resources(spec)
    params = tuple(sorted(spec.params.items()))
    warn_unplaceable(spec.name, actor_resources(res.num_cpus, res.num_gpus, res.memory_mb))
    videos = ray.data.read_parquet(source, columns=["uri"])
    n_in = videos.count()
    ds, n_done = skip_done(videos, out)
    if n_done < n_in:
        with Tracker(n_in - n_done, label) as progress:
            ds = ds.repartition(target_num_rows_per_block=cfg.score.decode_batch_size)
            ds = ds.map_batches(prepare_batch, batch_format="pandas", batch_size=cfg.score.decode_batch_size,
                                num_cpus=cfg.score.decode_num_cpus or res.prep_num_cpus,
                                fn_kwargs={"name": spec.name, "params": params})
            ds = ds.map_batches(ModelSide, batch_format="pandas", batch_size=res.batch_size,
                                fn_constructor_kwargs={"name": spec.name, "params": params,
                                                       "progress": progress.handle},
                                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=res.max_actors),
                                **actor_resources(res.num_cpus, res.num_gpus, res.memory_mb))
            ds.write_parquet(out, min_rows_per_file=256)
    return n_in, n_done
