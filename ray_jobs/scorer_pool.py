"""The student's scoring machinery, shared by `score` (the pool) and `evaluate` (benchmarks).

Ray Data reads a Parquet of `uri`s -> CPU tasks decode each video's key frames and
motion chunks -> an actor pool of `Scorer`s (anchors loaded once, a GPU per actor
when the cluster has GPUs) -> part files (uri, score, c_0..c_N, error) under `out`.
Resumable: videos already in `out` are skipped; decode errors are rows, not crashes.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa

from ray_jobs.rows import RowJob, Side, run_rows
from w2s import uri
from w2s.config import Resources
from w2s.video import VideoDecodeError


def schema(num_anchors: int) -> pa.Schema:
    return pa.schema([("uri", pa.string()), ("score", pa.float64())]
                     + [(f"c_{i}", pa.float64()) for i in range(num_anchors)] + [("error", pa.string())])


def decode_batch(batch: pd.DataFrame, sampling) -> pd.DataFrame:
    """CPU side: pickled VideoInputs (key frames + motion chunks) or the decode error."""
    from w2s.scoring.inputs import decode

    payloads, errors = [], []
    for video in batch["uri"]:
        try:
            payloads.append(pickle.dumps(decode(video, sampling), protocol=5))
            errors.append(None)
        except (VideoDecodeError, ValueError, OSError) as e:
            payloads.append(None)
            errors.append(getattr(e, "reason", str(e)))
    return pd.DataFrame({"uri": batch["uri"].to_numpy(), "payload": payloads, "error": errors})


def _score(scorer, batch: pd.DataFrame, inputs: list) -> pd.DataFrame:
    ok = batch["error"].isna().to_numpy()
    n = len(scorer.anchor_feats)
    c = np.full((len(batch), n), np.nan)
    scores = np.full(len(batch), np.nan)
    if ok.any():
        res = scorer.score_inputs(inputs)
        scores[ok] = [r.score for r in res]
        c[ok] = [r.c for r in res]
    return pd.DataFrame({"uri": batch["uri"].to_numpy(), "score": scores,
                         **{f"c_{i}": c[:, i] for i in range(n)}, "error": batch["error"].to_numpy()})


class ScoreActor:
    """Loads the scorer once (anchors' tokens and prefix caches included), scores batches."""

    def __init__(self, ckpt: str):
        from w2s.scoring.scorer import Scorer

        self.scorer = Scorer.from_pretrained(ckpt)

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        inputs = [pickle.loads(p) for p in batch.loc[batch["error"].isna(), "payload"]]
        out = _score(self.scorer, batch, inputs)
        return pa.Table.from_pandas(out, schema=schema(len(self.scorer.anchor_feats)), preserve_index=False)


class MultiScoreActor:
    """Several checkpoints in one actor: each decoded video is scored by all of them. Rows carry
    `model` (the partition column of the write)."""

    def __init__(self, ckpts: dict[str, str]):
        from w2s.scoring.scorer import Scorer

        self.scorers = {name: Scorer.from_pretrained(c) for name, c in ckpts.items()}

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        inputs = [pickle.loads(p) for p in batch.loc[batch["error"].isna(), "payload"]]
        tables = []
        for name, scorer in self.scorers.items():
            t = pa.Table.from_pandas(_score(scorer, batch, inputs), schema=schema(len(scorer.anchor_feats)),
                                     preserve_index=False)
            tables.append(t.append_column("model", pa.array([name] * len(t), pa.string())))
        return pa.concat_tables(tables, promote_options="default")


def score_all(cfg, source: str, ckpt: str, out: str, sampling, label: str | None = None) -> tuple[int, int]:
    """Run the pipeline over the videos not scored yet: (inputs, already done)."""
    return _run(cfg, source, out, sampling, label or f"score {ckpt.rstrip('/').rsplit('/', 1)[-1]}",
                ScoreActor, {"ckpt": ckpt})


def score_many(cfg, source: str, ckpts: dict[str, str], root: str, sampling, label: str) -> tuple[int, int]:
    """Several checkpoints with the same sampling, one decode per video: each model's rows go to
    <root>/model=<name>/ (a video counts as done when every model has it)."""
    return _run(cfg, source, [uri.join(root, f"model={m}") for m in ckpts], sampling, label,
                MultiScoreActor, {"ckpts": ckpts}, partition_cols=["model"], dest=root)


def _run(cfg, source: str, out: str | list[str], sampling, label: str, actor, actor_kwargs: dict,
         partition_cols=None, dest: str | None = None) -> tuple[int, int]:
    sc = cfg.scoring
    decode = Side(decode_batch, Resources(num_cpus=sc.decode_num_cpus, batch_size=sc.batch_size), {"sampling": sampling})
    return run_rows(RowJob(source, out, label, process=Side(actor, sc, actor_kwargs), prepare=decode,
                           rows_per_file=sc.rows_per_file, partition_cols=partition_cols, dest=dest))
