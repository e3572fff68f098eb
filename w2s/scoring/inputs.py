"""What scoring decodes from a video, CPU side: the key frames the student sees and the
1-second motion chunks of the same seconds (SlowFast runs on them next to the student).

Long videos are sampled to at most `max_frames` seconds (`w2s.student.examples.seconds`,
the same rule as training), so a request never decodes more than that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from w2s.student.examples import seconds
from w2s.student.motion import CHUNK
from w2s.video import VideoDecodeError, open_reader


@dataclass(frozen=True)
class Sampling:
    """How a checkpoint looks at a video (stored in anchors.json: scoring uses training's)."""
    image_size: int
    max_frames: int
    frame_sampling: str = "first"
    motion_size: int = 224


@dataclass
class VideoInputs:
    uri: str
    frames: np.ndarray        # (F, S, S, 3) uint8 key frames
    chunks: np.ndarray | None  # (F, 32, m, m, 3) uint8 motion chunks of the same seconds
    motion: np.ndarray | None = None  # (F, 256) float32 when already computed (anchors, motion cache)

    @property
    def nbytes(self) -> int:
        return self.frames.nbytes + (self.chunks.nbytes if self.chunks is not None else 0)


def decode(uri: str, s: Sampling) -> VideoInputs:
    """Key frames and motion chunks of the kept seconds; VideoDecodeError when unreadable."""
    with open_reader(uri) as reader:
        idx = reader.key_frame_indices()
        keep = seconds(len(idx), s.max_frames, s.frame_sampling)
        if not len(keep):
            raise VideoDecodeError(uri, "no frames")
        frames = [f for _, f in reader.frames([idx[i] for i in keep], size=(s.image_size, s.image_size))]
    # a second pass for the chunks: each at its own size through the decoder's scaler, so the
    # pixels equal what training decoded (key frames) and cache_motion fed SlowFast (chunks)
    with open_reader(uri) as reader:
        chunks = [c for _, c in reader.chunks(size=(s.motion_size, s.motion_size), length=CHUNK, keys=keep)]
    if len(frames) != len(keep) or len(chunks) != len(keep):
        raise VideoDecodeError(uri, f"decoded {len(frames)} key frames and {len(chunks)} motion chunks "
                                    f"of {len(keep)} seconds")
    return VideoInputs(uri, np.stack(frames), np.stack(chunks))
