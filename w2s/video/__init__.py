"""Video I/O: probing, 1-fps key frames, frame pairs and 1-second chunks, streamed.

    from w2s.video import open_reader, probe
    with open_reader("clip.mp4") as r:            # PyAV by default; backend="decord" too
        for index, rgb in r.key_frames(size=(448, 252)):
            ...
"""

from w2s.video.errors import VideoDecodeError
from w2s.video.reader import VideoReader, fit_short_side, key_frame_indices
from w2s.video.source import VideoInfo, probe

BACKENDS = ("pyav", "decord")


def open_reader(uri: str, backend: str = "pyav", **kwargs) -> VideoReader:
    """A VideoReader for `uri` (use it as a context manager)."""
    if backend == "pyav":
        from w2s.video.pyav_backend import PyAVReader

        return PyAVReader(uri, **kwargs)
    if backend == "decord":
        from w2s.video.decord_backend import DecordReader

        return DecordReader(uri, **kwargs)
    raise ValueError(f"unknown video backend {backend!r}; choose from {BACKENDS}")


__all__ = [
    "BACKENDS",
    "VideoDecodeError",
    "VideoInfo",
    "VideoReader",
    "fit_short_side",
    "key_frame_indices",
    "open_reader",
    "probe",
]
