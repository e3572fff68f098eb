"""Writing videos with real encoders (PyAV -> libx264 / libx265)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import av
import numpy as np

X264_MAX_CRF_8BIT = 51  # 8-bit libx264 clamps larger CRF values to 51


@dataclass(frozen=True)
class EncodeSpec:
    codec: str = "libx264"
    crf: int = 0
    preset: str = "veryfast"
    pix_fmt: str = "yuv444p"
    options: dict = field(default_factory=dict)

    @property
    def effective_crf(self) -> int:
        if self.codec == "libx264" and self.pix_fmt in ("yuv420p", "yuv422p", "yuv444p"):
            return min(self.crf, X264_MAX_CRF_8BIT)
        return self.crf

    def to_dict(self) -> dict:
        d = asdict(self)
        d["effective_crf"] = self.effective_crf
        return d


# Storage for simulated distortions: lossless x264 (CRF 0) in 4:4:4, so the
# simulated distortion is the only degradation (RGB<->YUV rounding aside).
# x264 options that give the same bits for the same frames on every call: its frame threads
# follow the CPUs a process sees, and its macroblock-tree rate control encoded the same frames
# differently from one call to the next in this build (issue 24: the h264 renders; issue 25: the
# sample pool, whose clip_0058 came out up to 40 grey levels apart between two demo runs)
REPRODUCIBLE_X264 = {"threads": "1", "x264-params": "mbtree=0"}
NEAR_LOSSLESS = EncodeSpec("libx264", crf=0, preset="veryfast", pix_fmt="yuv444p")


def as_rate(fps: float) -> Fraction:
    """A frame rate as an exact fraction (29.97 -> 30000/1001)."""
    for den in (1, 1001):
        num = round(fps * den)
        if num and abs(num / den - fps) < 1e-3:
            return Fraction(num, den)
    return Fraction(fps).limit_denominator(1001)


class VideoWriter:
    """Encode RGB uint8 frames to a file: ``with VideoWriter(path, fps, spec) as w: w.write(f)``.

    The size is taken from the first frame. 4:2:0 formats need even sizes: odd
    sizes are padded by repeating the last row / column (recorded in `padded`).
    """

    def __init__(self, path: str, fps: float, spec: EncodeSpec = NEAR_LOSSLESS,
                 metadata: dict | None = None, rotation: int = 0):
        self.path, self.fps, self.spec = str(path), fps, spec
        self.metadata = metadata or {}
        self.rotation = rotation
        self.frames = 0
        self.padded = False
        self._container = None
        self._stream = None

    def __enter__(self) -> VideoWriter:
        return self

    def _open(self, width: int, height: int) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._container = av.open(self.path, mode="w")
        for k, v in self.metadata.items():
            self._container.metadata[k] = v if isinstance(v, str) else json.dumps(v)
        s = self._container.add_stream(self.spec.codec, rate=as_rate(self.fps))
        s.width, s.height, s.pix_fmt = width, height, self.spec.pix_fmt
        opts = {"crf": str(self.spec.crf), "preset": self.spec.preset, **self.spec.options}
        if self.spec.codec == "libx265":
            opts.setdefault("x265-params", "log-level=error")
        s.codec_context.options = opts
        if self.rotation:
            s.set_display_rotation(self.rotation)
        self._stream = s

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected HxWx3 uint8 RGB, got {frame.dtype} {frame.shape}")
        if self.spec.pix_fmt.startswith(("yuv420", "yuv422")) and (frame.shape[0] % 2 or frame.shape[1] % 2):
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
            self.padded = True
        if self._container is None:
            self._open(frame.shape[1], frame.shape[0])
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if pts is not None:
            vf.pts = pts
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __exit__(self, exc_type, *exc) -> None:
        self.close()
        if exc_type is not None and os.path.exists(self.path):
            os.remove(self.path)  # never leave a half-written file behind


def read_metadata(path: str, key: str = "comment") -> dict:
    """The JSON a VideoWriter stored in the container's `key` tag ({} if none)."""
    with av.open(str(path)) as c:
        raw = c.metadata.get(key)
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
