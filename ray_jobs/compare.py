"""The student comparing pairs of videos on Ray, shared by `mine_pairs` (labels of gMAD pairs,
the misclassified check) and `heldout` (pair accuracy): Ray Data batches of pairs -> CPU tasks
decode each distinct video of the batch once (key frames + motion chunks, small tensors) ->
an actor pool of `Scorer`s (the `scoring` resources: a GPU each on a GPU cluster) returns the
five level probabilities of every ordered pair (second relative to first). A pair whose video
cannot be decoded gets NaN probabilities and its error."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from ray_jobs.progress import Tracker, tick
from ray_jobs.runtime import ray_args
from w2s.conversation import LEVELS
from w2s.video import VideoDecodeError

PROB_COLUMNS = [f"p_{k}" for k in LEVELS]


def decode_pairs(batch: pd.DataFrame, sampling) -> pd.DataFrame:
    """CPU side: every distinct video of the batch decoded once; per row the pickled pair or the error."""
    from w2s.scoring.inputs import decode

    videos: dict = {}
    for u in pd.unique(pd.concat([batch["first_uri"], batch["second_uri"]])):
        try:
            videos[u] = decode(u, sampling)
        except (VideoDecodeError, ValueError, OSError) as e:
            videos[u] = f"{u}: {getattr(e, 'reason', e)}"
    payloads, errors = [], []
    for a, b in zip(batch["first_uri"], batch["second_uri"], strict=True):
        bad = [v for v in (videos[a], videos[b]) if isinstance(v, str)]
        payloads.append(None if bad else pickle.dumps((videos[a], videos[b]), protocol=5))
        errors.append("; ".join(bad) if bad else None)
    return pd.DataFrame({"row": batch["row"].to_numpy(), "payload": payloads, "error": errors})


class CompareActor:
    """One student per actor; compares the decoded pairs of a batch (each video through the
    vision tower and SlowFast once)."""

    def __init__(self, ckpt: str, temperature: float, progress=None):
        from w2s.scoring.scorer import Scorer

        self.scorer = Scorer.from_pretrained(ckpt, with_anchors=False)  # comparisons need no anchors
        self.t, self.progress = temperature, progress

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        probs = np.full((len(batch), len(LEVELS)), np.nan)
        ok = batch["error"].isna().to_numpy()
        if ok.any():
            pairs = [pickle.loads(p) for p in batch.loc[ok, "payload"]]
            probs[ok] = self.scorer.compare_batch(pairs, temperature=self.t)
        tick(self.progress, len(batch))
        return pd.DataFrame({"row": batch["row"].to_numpy(), **dict(zip(PROB_COLUMNS, probs.T, strict=True)),
                             "error": batch["error"].to_numpy()})


def blocks(pairs: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    """The pairs (with their row number) cut into batches that share videos, so each video is
    decoded and run once per batch: the pairs of one synthetic (source, family) together (all
    its levels against each other), the rest sorted by first video, `size` pairs at a time."""
    index = pairs[["first_uri", "second_uri"]].assign(row=np.arange(len(pairs)))
    has_group = pairs["source"].fillna("").astype(bool) if "source" in pairs else pd.Series(False, index=pairs.index)
    grouped = index[has_group.to_numpy()]
    out = [g for _, g in grouped.groupby([pairs.loc[has_group, "source"], pairs.loc[has_group, "family"]],
                                         sort=True)] if len(grouped) else []
    rest = index[~has_group.to_numpy()].sort_values(["first_uri", "second_uri"], kind="stable")
    out += [rest.iloc[i: i + size] for i in range(0, len(rest), size)]
    return out


def compare_pairs(cfg, pairs: pd.DataFrame, ckpt: str, label: str) -> tuple[np.ndarray, pd.Series]:
    """(N, 5) probabilities in the order of `pairs` (NaN rows where a video failed) and the errors."""
    import ray
    import ray.data

    from w2s.scoring.anchors import AnchorSet

    if not len(pairs):
        return np.zeros((0, len(LEVELS))), pd.Series([], dtype=object)
    sc = cfg.scoring
    sampling = AnchorSet.load(ckpt, with_inputs=False).sampling
    with Tracker(len(pairs), label, "pairs") as progress:
        # one block = one decode task (each video decoded once per block); the actors take batches
        # of the largest block's size (an int: Ray Data needs one for GPU actors; every row's payload
        # is self-contained, so a batch may span blocks)
        parts = blocks(pairs, cfg.mining.batch_size)
        ds = ray.data.from_pandas(parts)
        ds = ds.map_batches(decode_pairs, batch_format="pandas", batch_size=None, num_cpus=sc.decode_num_cpus,
                            fn_kwargs={"sampling": sampling})
        ds = ds.map_batches(CompareActor, batch_format="pandas", batch_size=max(len(b) for b in parts),
                            fn_constructor_kwargs={"ckpt": ckpt, "temperature": cfg.mining.temperature,
                                                   "progress": progress.handle},
                            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=sc.max_actors),
                            **ray_args(sc, actor=True))
        out = ds.to_pandas().sort_values("row").reset_index(drop=True)
    if len(out) != len(pairs):
        raise RuntimeError(f"{label}: {len(out)} results for {len(pairs)} pairs")
    return out[PROB_COLUMNS].to_numpy(np.float64), out["error"]
