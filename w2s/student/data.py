"""Training examples for the pair student, Ray-free.

A pair row (first_uri, second_uri, label) joined with both videos' cached motion
features becomes, after `featurize_pairs`, a row that holds everything a training
step needs: per video the key frames (one per second, uint8, resized to the
vision tower's square input, at most `max_frames`) and the motion features (at
most `max_frames` 1-second rows). `PairBatcher` turns such rows into the model's
inputs: token ids with the image slots expanded, labels on the answer, and the
normalised frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from w2s.prompts import LEVEL_WEIGHTS, LEVELS
from w2s.student.motion import FEATURE_DIM
from w2s.student.prompting import PairEncoder
from w2s.video import VideoDecodeError, open_reader

SIDES = ("first", "second")
SCHEMA = pa.schema(
    [("first_uri", pa.string()), ("second_uri", pa.string()), ("label", pa.string())]
    + [(f"{s}_{k}", t) for s in SIDES for k, t in
       (("frames", pa.binary()), ("num_frames", pa.int32()), ("motion", pa.binary()), ("num_chunks", pa.int32()))]
    + [("error", pa.string())])


def keyframes(uri: str, size: int, max_frames: int) -> np.ndarray:
    """(F, size, size, 3) uint8: one frame per second, F <= max_frames."""
    out = []
    with open_reader(uri) as reader:
        idx = reader.key_frame_indices()[:max_frames]
        for _, frame in reader.frames(idx, size=(size, size)):
            out.append(frame)
    if not out:
        raise VideoDecodeError(uri, "no key frames decoded")
    return np.stack(out)


def featurize_pairs(batch: pd.DataFrame, size: int, max_frames: int) -> pa.Table:
    """Decode both videos' key frames; motion bytes pass through (truncated to max_frames)."""
    rows = []
    for r in batch.itertuples(index=False):
        row = {"first_uri": r.first_uri, "second_uri": r.second_uri, "label": r.label, "error": None}
        try:
            if r.label not in LEVELS:
                raise ValueError(f"unknown label {r.label!r}")
            for side in SIDES:
                frames = keyframes(getattr(r, f"{side}_uri"), size, max_frames)
                motion = np.frombuffer(getattr(r, f"{side}_motion"), np.float32).reshape(-1, FEATURE_DIM)
                motion = motion[:max_frames]
                if not len(motion):
                    raise ValueError(f"no motion features for {getattr(r, f'{side}_uri')}")
                row.update({f"{side}_frames": frames.tobytes(), f"{side}_num_frames": len(frames),
                            f"{side}_motion": motion.tobytes(), f"{side}_num_chunks": len(motion)})
        except (VideoDecodeError, ValueError) as e:
            row = {k: row.get(k) for k in ("first_uri", "second_uri", "label")}
            row["error"] = getattr(e, "reason", str(e))
        rows.append(row)
    df = pd.DataFrame(rows).reindex(columns=SCHEMA.names)
    return pa.Table.from_pandas(df, schema=SCHEMA, preserve_index=False)


def video_inputs(frames: np.ndarray, motion: np.ndarray, processor) -> dict[str, torch.Tensor]:
    """uint8 key frames + motion rows -> {'frames': (F, 3, S, S) normalised, 'motion': (K, 256)}."""
    pix = processor(images=list(frames), return_tensors="pt")["pixel_values"]
    return {"frames": pix, "motion": torch.from_numpy(np.array(motion, dtype=np.float32))}


class PairBatcher:
    """Featurized rows (dict of columns, as Ray Data's numpy batches) -> model inputs."""

    def __init__(self, model, tokenizer, processor):
        self.model, self.proc = model, processor
        self.encoder = PairEncoder(tokenizer, model.config.image_token_id)
        self.size = model.config.vision_config.image_size

    def _video(self, batch: dict, side: str, i: int) -> dict[str, torch.Tensor]:
        nf, nc = int(batch[f"{side}_num_frames"][i]), int(batch[f"{side}_num_chunks"][i])
        frames = np.frombuffer(batch[f"{side}_frames"][i], np.uint8).reshape(nf, self.size, self.size, 3)
        motion = np.frombuffer(batch[f"{side}_motion"][i], np.float32).reshape(nc, FEATURE_DIM)
        return video_inputs(frames, motion, self.proc)

    def __call__(self, batch: dict, with_labels: bool = True) -> dict:
        items, videos = [], []
        for i in range(len(batch["first_uri"])):
            pair = [self._video(batch, s, i) for s in SIDES]
            counts = []
            for v in pair:
                counts += list(self.model.num_video_tokens(len(v["frames"]), len(v["motion"])))
            items.append(self.encoder.encode(counts, str(batch["label"][i]) if with_labels else None))
            videos.append(pair)
        out = self.encoder.collate(items)
        out["videos"] = videos
        out["target"] = torch.tensor([LEVELS.index(str(x)) for x in batch["label"]]) if with_labels else None
        return out


WEIGHTS = torch.tensor([LEVEL_WEIGHTS[w] for w in LEVELS])


def expected_preference(probs: torch.Tensor) -> torch.Tensor:
    """c = sum_k p_k w_k (0 = second far worse, 1 = second far better), METHOD.md section 4."""
    return probs.float() @ WEIGHTS.to(probs.device)


def direction_correct(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per pair: 1 when the predicted preference c falls on the label's side of 0.5, NaN for
    'similar' labels (no direction), as float."""
    c = expected_preference(probs)
    t = WEIGHTS.to(probs.device)[target] - 0.5
    out = ((c - 0.5) * t > 0).float()
    return torch.where(t == 0, torch.full_like(out, float("nan")), out)


# -- both orders of a pair in one step ----------------------------------------------------------
def mirror_label(label: str) -> str:
    """The label of the swapped pair: METHOD.md section 2 labels are antisymmetric
    (d -> -d swaps superior/inferior and better/worse; similar stays)."""
    return LEVELS[len(LEVELS) - 1 - LEVELS.index(label)]


def canonical_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per unordered pair: a row whose swapped twin is also present is kept once (the
    first seen), so that showing every row in both orders does not show a pair four times."""
    lo = pairs[["first_uri", "second_uri"]].min(axis=1)
    hi = pairs[["first_uri", "second_uri"]].max(axis=1)
    return pairs[~pd.DataFrame({"lo": lo, "hi": hi}).duplicated()].reset_index(drop=True)


def with_mirrors(batch: dict) -> dict:
    """A batch of featurized rows (numpy columns) -> twice the rows: each row followed by its
    swapped copy (first_* <-> second_*, mirrored label), so both orders meet in one step."""
    n = len(batch["label"])
    swap = {}
    for key in batch:
        for a, b in (SIDES, SIDES[::-1]):
            if key.startswith(a + "_"):
                swap[key] = b + key[len(a):]
    out = {}
    for key, col in batch.items():
        col = np.asarray(col)
        if key == "label":
            twin = np.array([mirror_label(str(x)) for x in col], dtype=object)
        elif key in swap:
            twin = np.asarray(batch[swap[key]])
        else:
            twin = col
        both = np.empty((2 * n, *col.shape[1:]), dtype=np.result_type(col, twin) if col.dtype != object else object)
        both[0::2], both[1::2] = col, twin
        out[key] = both
    return out
