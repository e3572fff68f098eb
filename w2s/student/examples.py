"""Training examples for the pair student, Ray-free: a pair row (first_uri,
second_uri, label) joined with both videos' cached motion features becomes, after
`featurize_pairs`, a row holding everything a training step needs: per video the
key frames (uint8, resized to the vision tower's square input) and the motion
features (one 256-d row per second).

Key frames are one per second (METHOD.md), at most `max_frames` of them, and the
motion rows of the same seconds. For a video longer than `max_frames` seconds,
`sampling` says which seconds: "first" (its opening seconds) or "spread" (evenly
over its whole length, first and last second included). The training stage
counts and reports the videos the cap applies to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from w2s.conversation import LEVELS
from w2s.student.motion import FEATURE_DIM
from w2s.video import VideoDecodeError, open_reader

SIDES = ("first", "second")
SCHEMA = pa.schema(
    [("first_uri", pa.string()), ("second_uri", pa.string()), ("label", pa.string())]
    + [(f"{s}_{k}", t) for s in SIDES for k, t in
       (("frames", pa.binary()), ("num_frames", pa.int32()), ("motion", pa.binary()), ("num_chunks", pa.int32()))]
    + [("error", pa.string())])


def spread(n: int, k: int) -> np.ndarray:
    """Indices of at most `k` of `n` seconds: all of them, or `k` evenly spread (first and last kept)."""
    if n <= k:
        return np.arange(n)
    return np.linspace(0, n - 1, k).round().astype(int)


def seconds(n: int, max_frames: int, sampling: str = "first") -> np.ndarray:
    """Which of `n` seconds to keep: the first `max_frames`, or `max_frames` spread evenly."""
    if sampling == "spread":
        return spread(n, max_frames)
    if sampling != "first":
        raise ValueError(f"frame sampling must be 'first' or 'spread', got {sampling!r}")
    return np.arange(min(n, max_frames))


def keyframes(uri: str, size: int, max_frames: int, sampling: str = "first") -> np.ndarray:
    """(F, size, size, 3) uint8: one frame per second, F <= max_frames (see `seconds`)."""
    out = []
    with open_reader(uri) as reader:
        idx = reader.key_frame_indices()
        idx = [idx[i] for i in seconds(len(idx), max_frames, sampling)]
        for _, frame in reader.frames(idx, size=(size, size)):
            out.append(frame)
    if not out:
        raise VideoDecodeError(uri, "no key frames decoded")
    return np.stack(out)


def motion_rows(motion: np.ndarray, max_frames: int, sampling: str = "first") -> np.ndarray:
    """The motion rows of the seconds `keyframes` keeps, float32."""
    motion = np.asarray(motion, np.float32)
    return motion[seconds(len(motion), max_frames, sampling)]


def featurize_pairs(batch: pd.DataFrame, size: int, max_frames: int, sampling: str = "first") -> pa.Table:
    """Decode both videos' key frames; motion bytes pass through (the same seconds kept)."""
    rows = []
    for r in batch.itertuples(index=False):
        row = {"first_uri": r.first_uri, "second_uri": r.second_uri, "label": r.label, "error": None}
        try:
            if r.label not in LEVELS:
                raise ValueError(f"unknown label {r.label!r}")
            for side in SIDES:
                video = getattr(r, f"{side}_uri")
                frames = keyframes(video, size, max_frames, sampling)
                motion = np.frombuffer(getattr(r, f"{side}_motion"), np.float32).reshape(-1, FEATURE_DIM)
                if not len(motion):
                    raise ValueError(f"no motion features for {video}")
                motion = motion_rows(motion, max_frames, sampling)
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
