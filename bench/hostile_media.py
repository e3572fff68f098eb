"""Media for the hostile cases (bench/hostile.py) and the tests: small files that ask the decoder
for a lot. `bomb_mp4` (an H.264 SPS patched to declare 16000x16000), `growing_bomb_ts` (the size
grows mid-stream), `many_frames` (10^6 frames), `sparse_timestamps_mkv` (a day-long span)."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np


class _BitReader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            v = (v << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)


class _BitWriter:
    def __init__(self):
        self.bits: list[int] = []

    def u(self, n: int, v: int) -> None:
        self.bits += [(v >> (n - 1 - k)) & 1 for k in range(n)]

    def ue(self, v: int) -> None:
        v += 1
        self.u(v.bit_length() - 1, 0)
        self.u(v.bit_length(), v)

    def bytes(self) -> bytes:
        b = self.bits + [0] * (-len(self.bits) % 8)
        return bytes(int("".join(map(str, b[i : i + 8])), 2) for i in range(0, len(b), 8))


def _unescape(b: bytes) -> bytes:  # NAL payload -> RBSP (drop emulation-prevention bytes)
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x == 3:
            zeros = 0
            continue
        out.append(x)
        zeros = zeros + 1 if x == 0 else 0
    return bytes(out)


def _escape(b: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x <= 3:
            out.append(3)
            zeros = 0
        out.append(x)
        zeros = zeros + 1 if x == 0 else 0
    return bytes(out)


def patch_sps(nal: bytes, width: int, height: int) -> bytes:
    """An H.264 SPS NAL unit (no start code) rewritten to declare width x height (multiples of
    16), every other field kept: what a decoder allocates follows this, not the container."""
    rbsp = _unescape(nal[1:])
    r, w = _BitReader(rbsp), _BitWriter()

    def u(n):
        v = r.u(n)
        w.u(n, v)
        return v

    def ue():
        v = r.ue()
        w.ue(v)
        return v

    profile = u(8)
    u(8), u(8), ue()  # constraint flags, level, sps id
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        if ue() == 3:  # chroma_format_idc
            u(1)
        ue(), ue(), u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if u(1):
            raise ValueError("SPS with scaling matrices: not handled")
    ue()  # log2_max_frame_num
    poc_type = ue()
    if poc_type == 0:
        ue()
    elif poc_type == 1:
        raise ValueError("SPS with pic_order_cnt_type 1: not handled")
    ue(), u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    r.ue(), r.ue()
    w.ue(width // 16 - 1)
    w.ue(height // 16 - 1)
    last = len(rbsp) * 8 - 1  # the rest up to the RBSP stop bit, as it was
    while not (rbsp[last >> 3] >> (7 - (last & 7))) & 1:
        last -= 1
    while r.pos < last:
        u(1)
    w.u(1, 1)
    return nal[:1] + _escape(w.bytes())


def _encode(path: str, frames: int, size: int, fps: int, gop: int, value=lambda i: 128, **opts) -> str:
    out = av.open(path, "w")
    s = out.add_stream("libx264", rate=fps)
    s.width = s.height = size
    s.pix_fmt = "yuv420p"
    s.codec_context.options = {"preset": "ultrafast", "threads": "1", "g": str(gop), "keyint_min": str(gop),
                               "bf": "0", "sc_threshold": "0", **opts}
    for i in range(frames):
        rgb = np.full((size, size, 3), value(i), np.uint8)
        for p in s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            out.mux(p)
    for p in s.encode(None):
        out.mux(p)
    out.close()
    return path


def bomb_mp4(path: str, width: int = 16000, height: int = 16000) -> str:
    """A decompression bomb: 3 frames of a 64x64 H.264 encode in an MP4 (~1.5 KB) whose SPS
    (avcC) and track declare width x height. Decoding one frame of 16000x16000 makes FFmpeg
    allocate ~1.8 GB (2.6 GB with the RGB conversion)."""
    src = _encode(path + ".src.mp4", 3, 64, 25, 25)
    try:
        with av.open(src) as c:
            ins = c.streams.video[0]
            avcc = bytes(ins.codec_context.extradata)
            assert avcc[0] == 1 and avcc[5] & 31 == 1, "one SPS in avcC"
            n = int.from_bytes(avcc[6:8], "big")
            sps = patch_sps(avcc[8 : 8 + n], width, height)
            out = av.open(path, "w")
            s = out.add_stream_from_template(ins)
            s.codec_context.extradata = avcc[:6] + len(sps).to_bytes(2, "big") + sps + avcc[8 + n :]
            s.codec_context.width, s.codec_context.height = width, height
            for p in c.demux(ins):
                if p.dts is not None:
                    p.stream = s
                    out.mux(p)
            out.close()
    finally:
        os.remove(src)
    return path


def _nal_units(data: bytes) -> list[bytes]:
    starts, i = [], 0
    while (j := data.find(b"\x00\x00\x01", i)) >= 0:
        starts.append(j + 3)
        i = j + 3
    units = []
    for k, st in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        units.append(data[st:end].rstrip(b"\x00") if k + 1 < len(starts) else data[st:end])
    return units


def growing_bomb_ts(path: str, width: int = 16000, height: int = 16000) -> str:
    """An MPEG-TS of two 1-second GOPs, 64x64, whose second key frame carries an in-band SPS of
    width x height: the header (what probing sees) is small, the second second is the bomb."""
    src = _encode(path + ".src.ts", 50, 64, 25, 25, value=lambda i: 100 + i)
    try:
        with av.open(src) as c:
            ins = c.streams.video[0]
            out = av.open(path, "w", format="mpegts")
            s = out.add_stream_from_template(ins)
            for n, p in enumerate(q for q in c.demux(ins) if q.size):
                data = bytes(p)
                if p.is_keyframe and n > 0:
                    units = [patch_sps(u, width, height) if u[0] & 31 == 7 else u for u in _nal_units(data)]
                    data = b"".join(b"\x00\x00\x00\x01" + u for u in units)
                q = av.Packet(data)
                q.pts, q.dts, q.time_base, q.is_keyframe, q.stream = p.pts, p.dts, p.time_base, p.is_keyframe, s
                out.mux(q)
            out.close()
    finally:
        os.remove(src)
    return path


def many_frames(path: str, n: int = 10**6, fps: int = 30, gop: int = 250) -> str:
    """A 16x16 video of `n` frames (10^6 at 30 fps: 9.3 hours): one GOP of `gop` flat frames
    encoded with libx264, its packets remuxed over and over with increasing timestamps (~3 s
    and ~20 MB per 10^6 frames). `.mp4` records the frame count in its header (stsz); `.mkv`
    does not, so a reader only finds out by demuxing."""
    src = _encode(path + ".src.mp4", gop, 16, fps, gop)
    try:
        with av.open(src) as c:
            ins = c.streams.video[0]
            packets = [(bytes(p), p.is_keyframe) for p in c.demux(ins) if p.size]
            tb = ins.time_base
            step = int(round(1 / (fps * tb)))
            out = av.open(path, "w")
            s = out.add_stream_from_template(ins)
            for i in range(n):
                data, key = packets[i % len(packets)]
                p = av.Packet(data)
                p.pts = p.dts = i * step
                p.time_base, p.is_keyframe, p.stream = tb, key, s
                out.mux(p)
            out.close()
    finally:
        os.remove(src)
    return path


def sparse_timestamps_mkv(path: str, gap_s: float = 10**6) -> str:
    """Two seconds of 30-fps frames `gap_s` apart (Matroska, ms timestamps): few frames, a huge
    span, which 1-per-second key-frame sampling must not turn into `gap_s` sampling instants."""
    out = av.open(path, "w")
    s = out.add_stream("libx264", rate=30)
    s.width = s.height = 16
    s.pix_fmt = "yuv420p"
    s.codec_context.options = {"preset": "ultrafast", "bf": "0", "threads": "1"}
    s.codec_context.time_base = Fraction(1, 1000)
    for t in [i / 30 for i in range(30)] + [gap_s + i / 30 for i in range(30)]:
        f = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 9, np.uint8), format="rgb24")
        f.pts, f.time_base = int(t * 1000), Fraction(1, 1000)
        for p in s.encode(f):
            out.mux(p)
    for p in s.encode(None):
        out.mux(p)
    out.close()
    return path
