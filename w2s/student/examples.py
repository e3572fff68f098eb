"""Training examples for the pair student, Ray-free: a pair row (first_uri,
second_uri, label) joined with both videos' cached motion features becomes, after
`featurize_pairs`, a row holding everything a training step needs: per video the
key frames (uint8, resized to the vision tower's square input) and the motion
features (one 256-d row per second).

Key frames are one per second (METHOD.md). A video longer than `max_frames`
seconds is sampled evenly over its whole length (first and last second
included), and its motion rows are taken at the same spread, so a long video is
never cut to its opening seconds.
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


def keyframes(uri: str, size: int, max_frames: int) -> np.ndarray:
    """(F, size, size, 3) uint8: one frame per second, F <= max_frames (evenly spread)."""
    out = []
    with open_reader(uri) as reader:
        idx = reader.key_frame_indices()
        idx = [idx[i] for i in spread(len(idx), max_frames)]
        for _, frame in reader.frames(idx, size=(size, size)):
            out.append(frame)
    if not out:
        raise VideoDecodeError(uri, "no key frames decoded")
    return np.stack(out)


def motion_rows(motion: np.ndarray, max_frames: int) -> np.ndarray:
    """The motion rows of the seconds `keyframes` keeps, float32."""
    motion = np.asarray(motion, np.float32)
    return motion[spread(len(motion), max_frames)]


def featurize_pairs(batch: pd.DataFrame, size: int, max_frames: int) -> pa.Table:
    """Decode both videos' key frames; motion bytes pass through (the same seconds kept)."""
    rows = []
    for r in batch.itertuples(index=False):
        row = {"first_uri": r.first_uri, "second_uri": r.second_uri, "label": r.label, "error": None}
        try:
            if r.label not in LEVELS:
                raise ValueError(f"unknown label {r.label!r}")
            for side in SIDES:
                video = getattr(r, f"{side}_uri")
                frames = keyframes(video, size, max_frames)
                motion = np.frombuffer(getattr(r, f"{side}_motion"), np.float32).reshape(-1, FEATURE_DIM)
                if not len(motion):
                    raise ValueError(f"no motion features for {video}")
                motion = motion_rows(motion, max_frames)
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
