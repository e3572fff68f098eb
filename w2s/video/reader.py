"""Frame sampling shared by every decoding backend.

A reader knows each frame's presentation time. From that it picks:
- key frames: one per second, frame k = the first frame shown at or after k s
  (for constant frame rate this is frame round(k * fps));
- frame pairs: (key frame k, the frame right after it), for TI and flicker;
- chunks: `length` consecutive frames from key frame k, padded with the last
  frame, for motion features.
Frames stream out one at a time (or one chunk at a time): a whole decoded
video is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from w2s.video.source import VideoInfo

Size = tuple[int, int]  # (width, height) of the returned frames, as displayed


def key_frame_indices(times: np.ndarray, per_second: float = 1.0) -> np.ndarray:
    """Index of the first frame at or after each sampled instant k / per_second."""
    times = np.asarray(times, dtype=np.float64)
    n_samples = int(np.floor(times[-1] * per_second + 1e-6)) + 1
    instants = np.arange(n_samples) / per_second
    idx = np.searchsorted(times, instants - 1e-6, side="left")
    return np.unique(np.clip(idx, 0, len(times) - 1))


def fit_short_side(width: int, height: int, short: int, multiple: int = 2) -> Size:
    """Output size keeping the aspect ratio with the short side = `short` (even dims)."""
    scale = short / min(width, height)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


def rotate(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded frame the way it is meant to be displayed (counter-clockwise degrees)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k=k)) if k else frame


class VideoReader:
    """Base class: backends implement `_open`, `_close` and `_read`."""

    backend = "base"

    def __init__(self, uri: str):
        self.uri = str(uri)
        self.info: VideoInfo | None = None
        self.times: np.ndarray | None = None  # seconds, one per frame, presentation order

    # -- backend interface ---------------------------------------------------------
    def _open(self) -> None:  # sets self.info and self.times
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def _read(self, indices: np.ndarray, size: Size | None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, HxWx3 uint8 RGB, rotation applied) for sorted unique indices."""
        raise NotImplementedError

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> VideoReader:
        self._open()
        return self

    def __exit__(self, *exc) -> None:
        self._close()

    # -- public sampling -------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return len(self.times)

    def frames(self, indices: Iterable[int], size: Size | None = None):
        """Yield (index, frame) for the requested frame indices, in increasing order."""
        idx = np.unique(np.asarray(list(indices), dtype=np.int64))
        if len(idx) and (idx[0] < 0 or idx[-1] >= self.num_frames):
            raise IndexError(f"frame index out of range [0, {self.num_frames})")
        return self._read(idx, size)

    def key_frame_indices(self, per_second: float = 1.0) -> np.ndarray:
        return key_frame_indices(self.times, per_second)

    def key_frames(self, size: Size | None = None, per_second: float = 1.0):
        """Yield (index, frame) at `per_second` frames per second of video."""
        return self.frames(self.key_frame_indices(per_second), size)

    def frame_pairs(self, size: Size | None = None, per_second: float = 1.0):
        """Yield (k, frame_i, frame_i+1) for each sampled key frame i (the last frame
        of the video pairs with the one before it; a 1-frame video pairs with itself)."""
        n = self.num_frames
        firsts = [max(0, min(i, n - 2)) for i in self.key_frame_indices(per_second)]
        firsts = list(dict.fromkeys(firsts))
        wanted = sorted({j for i in firsts for j in (i, min(i + 1, n - 1))})
        pending: dict[int, np.ndarray] = {}
        k = 0
        for idx, frame in self._read(np.asarray(wanted, dtype=np.int64), size):
            pending[idx] = frame
            while k < len(firsts) and min(firsts[k] + 1, n - 1) in pending:
                a, b = firsts[k], min(firsts[k] + 1, n - 1)
                yield k, pending[a], pending[b]
                k += 1
                keep = firsts[k] if k < len(firsts) else n
                pending = {i: f for i, f in pending.items() if i >= keep}

    def chunks(self, size: Size | None = None, length: int = 32, per_second: float = 1.0,
               keys: Iterable[int] | None = None):
        """Yield (k, array[length, H, W, 3]): `length` consecutive frames from key frame k,
        padded with the last frame of the video. `keys`: only these key frames (ascending
        positions in `key_frame_indices`; k then counts the chunks yielded)."""
        n = self.num_frames
        starts = list(self.key_frame_indices(per_second))
        if keys is not None:
            starts = [starts[i] for i in keys]
        wanted = sorted({min(s + j, n - 1) for s in starts for j in range(length)})
        pending: dict[int, np.ndarray] = {}
        k = 0
        for idx, frame in self._read(np.asarray(wanted, dtype=np.int64), size):
            pending[idx] = frame
            while k < len(starts):
                need = [min(starts[k] + j, n - 1) for j in range(length)]
                if need[-1] not in pending:
                    break
                yield k, np.stack([pending[i] for i in need])
                k += 1
                keep = starts[k] if k < len(starts) else n
                pending = {i: f for i, f in pending.items() if i >= keep}
