"""Opening a video with PyAV and building its frame table (no pixel decoding).

The frame table is read by demuxing packets (cheap: no decoding): presentation
timestamps in order give every frame an index and a time, which makes frame
selection exact for constant and variable frame rates, and tells where
key frames are so the reader can decide when a seek beats decoding on.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import av
import numpy as np

from w2s import uri as uri_mod
from w2s.video.errors import VideoDecodeError

# A header that promises more frames than the file holds by more than this
# fraction (and at least 2 frames) means the file was cut short.
TRUNCATION_TOLERANCE = 0.02
MIN_FPS, MAX_FPS = 0.1, 1000.0  # outside this a stream's frame rate is not usable
# Bounds on what one (possibly hostile) file may make us allocate or read:
# - MAX_PIXELS per frame: 8192 x 8192 (64 Mpx; 8K UHD 7680x4320 and DCI 8K 8192x4320 are
#   ~half of it). One decoded frame at the cap is 192 MiB of RGB (96 MiB of yuv420p per
#   reference frame); FFmpeg's own limit is ~16384 x 16384, so a few-KB file could otherwise
#   make the decoder allocate GBs. Checked on the stream's header before any frame is decoded,
#   and given to FFmpeg as `max_pixels`, so a frame that grows mid-stream is refused too.
# - MAX_FRAMES per stream: the frame table demuxes every packet (~3 s per 10^6 frames here);
#   500,000 frames is 4.6 h at 30 fps, 2.3 h at 60 fps.
# - MAX_DURATION_S: key frames are sampled once per second of the timestamps' span, so sparse
#   timestamps (3 frames 10^9 s apart) must not turn into 10^9 sampling instants.
MAX_PIXELS = 8192 * 8192
MAX_FRAMES = 500_000
MAX_DURATION_S = 24 * 3600.0


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` reports. width/height are as displayed (rotation applied)."""

    uri: str
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float
    codec: str
    rotation: int  # degrees counter-clockwise the frames are turned for display

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FrameTable:
    """Presentation order of a video stream, from its packets."""

    pts: np.ndarray  # int64, sorted presentation timestamps, one per frame
    times: np.ndarray  # float64 seconds from the first frame
    keyframe_pts: np.ndarray  # int64 sorted pts of key frames
    time_base: float

    def __len__(self) -> int:
        return len(self.pts)

    def index_of(self, pts: int) -> int:
        i = int(np.searchsorted(self.pts, pts))
        if i < len(self.pts) and self.pts[i] == pts:
            return i
        # not an exact packet pts (rare decoder rounding): the nearest frame
        j = int(np.clip(i, 1, len(self.pts) - 1))
        return j if abs(self.pts[j] - pts) < abs(self.pts[j - 1] - pts) else j - 1

    def keyframe_before(self, index: int) -> int:
        """pts of the last key frame at or before frame `index` (presentation order)."""
        k = int(np.searchsorted(self.keyframe_pts, self.pts[index], side="right")) - 1
        return int(self.keyframe_pts[max(k, 0)])


def _fail(uri: str, reason: str) -> VideoDecodeError:
    return VideoDecodeError(uri, reason)


@contextlib.contextmanager
def open_video(uri: str):
    """Yield ``(container, stream)`` for the first video stream, or raise VideoDecodeError."""
    uri = str(uri)
    fh = None
    try:
        if uri_mod.is_local(uri):
            path = uri_mod.local_path(uri)
            try:
                if uri_mod.size(path) == 0:
                    raise _fail(uri, "empty file (0 bytes)")
            except FileNotFoundError:
                raise _fail(uri, "file not found") from None
            src = path
        else:
            try:
                fh = uri_mod.open_binary(uri)
            except (OSError, ValueError) as e:
                raise _fail(uri, f"cannot open: {e}") from None
            src = fh
        # max_pixels reaches the decoders avformat_find_stream_info opens while probing, so even
        # opening a decompression bomb allocates no huge frame
        limits = {"max_pixels": str(MAX_PIXELS)}
        try:
            container = av.open(src, mode="r", metadata_errors="ignore", options=limits)
        except av.FFmpegError as e:
            raise _fail(uri, f"not a readable media file ({_short(e)})") from None
        except (OSError, ValueError) as e:
            raise _fail(uri, f"cannot open: {e}") from None
        try:
            if not container.streams.video:
                kinds = sorted({s.type for s in container.streams}) or ["no streams"]
                raise _fail(uri, f"no video stream (has: {', '.join(kinds)})")
            stream = container.streams.video[0]
            if stream.codec_context is None or not stream.codec_context.name:
                raise _fail(uri, "video stream has no decodable codec")
            check_frame_size(uri, stream)
            stream.codec_context.options = {**stream.codec_context.options, **limits}
            yield container, stream
        finally:
            container.close()
    finally:
        if fh is not None:
            fh.close()


def _short(e: Exception) -> str:
    return str(e).split(": '", 1)[0].strip()


def check_frame_size(uri: str, stream) -> None:
    """Refuse a frame size over MAX_PIXELS before anything is decoded. The size is the codec
    context's (what the decoder will allocate: FFmpeg has parsed the SPS by now, and it wins
    over the width/height the container's sample entry or track header claims)."""
    cc = stream.codec_context
    w, h = int(cc.width or 0), int(cc.height or 0)
    if w * h > MAX_PIXELS:
        raise _fail(uri, f"frame size {w}x{h} is over the limit of {MAX_PIXELS} pixels ({w * h} pixels)")


def stream_fps(uri: str, stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if not np.isfinite(fps) or fps < MIN_FPS or fps > MAX_FPS:
        raise _fail(uri, f"no usable frame rate (fps is zero, absent or implausible: {fps:g})")
    return fps


def read_frame_table(uri: str, container, stream) -> FrameTable:
    """Demux (no decoding) the video stream into a FrameTable; rewinds afterwards."""
    declared = int(stream.frames or 0)
    if declared > MAX_FRAMES:  # the header's count, refused before demuxing anything
        raise _fail(uri, f"more than {MAX_FRAMES} frames (header declares {declared})")
    pts, key = [], []
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            pts.append(packet.pts)
            key.append(packet.is_keyframe)
            if len(pts) > MAX_FRAMES:  # a header that does not say (or lies): stop reading
                raise _fail(uri, f"more than {MAX_FRAMES} frames")
    except av.FFmpegError as e:
        raise _fail(uri, f"corrupt or truncated stream while demuxing ({_short(e)})") from None
    if not pts:
        raise _fail(uri, "video stream holds no frames")
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    p = np.asarray(pts, dtype=np.int64)[order]
    k = np.asarray(key, dtype=bool)[order]
    if declared and len(p) < declared * (1 - TRUNCATION_TOLERANCE) and declared - len(p) >= 2:
        raise _fail(uri, f"truncated: header declares {declared} frames, file holds {len(p)}")
    if len(p) > 1 and np.any(np.diff(p) == 0):
        dup = int(np.sum(np.diff(p) == 0)) + 1
        raise _fail(uri, f"zero frame rate: {dup} of {len(p)} frames share a timestamp")
    tb = float(stream.time_base)
    span = (float(p[-1]) - float(p[0])) * tb
    if not np.isfinite(span) or span > MAX_DURATION_S:
        raise _fail(uri, f"timestamps span {span:.0f} s, over the limit of {MAX_DURATION_S:.0f} s")
    kf = p[k] if k.any() else p[:1]
    container.seek(int(p[0]), stream=stream, backward=True)
    return FrameTable(pts=p, times=(p - p[0]) * tb, keyframe_pts=kf, time_base=tb)


def first_frame_rotation(uri: str, container, stream) -> int:
    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0)) % 360
    except av.FFmpegError as e:
        check_frame_size(uri, stream)  # FFmpeg refused a frame over max_pixels: say so
        raise _fail(uri, f"cannot decode first frame ({_short(e)})") from None
    raise _fail(uri, "no decodable frame")


def probe(uri: str) -> VideoInfo:
    """Width, height (as displayed), fps, frame count, duration, codec, rotation."""
    with open_video(uri) as (container, stream):
        fps = stream_fps(uri, stream)
        table = read_frame_table(uri, container, stream)
        rotation = first_frame_rotation(uri, container, stream)
        w, h = stream.codec_context.width, stream.codec_context.height
        if w <= 0 or h <= 0:
            raise _fail(uri, f"invalid frame size {w}x{h}")
        if rotation in (90, 270):
            w, h = h, w
        n = len(table)
        span = float(table.times[-1]) + 1.0 / fps if n > 1 else 1.0 / fps
        return VideoInfo(
            uri=str(uri),
            width=int(w),
            height=int(h),
            fps=fps,
            num_frames=n,
            duration=span,
            codec=stream.codec_context.name,
            rotation=rotation,
        )
