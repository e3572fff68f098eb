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
        try:
            container = av.open(src, mode="r", metadata_errors="ignore")
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
            yield container, stream
        finally:
            container.close()
    finally:
        if fh is not None:
            fh.close()


def _short(e: Exception) -> str:
    return str(e).split(": '", 1)[0].strip()


def stream_fps(uri: str, stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if not np.isfinite(fps) or fps < MIN_FPS or fps > MAX_FPS:
        raise _fail(uri, f"no usable frame rate (fps is zero, absent or implausible: {fps:g})")
    return fps


def read_frame_table(uri: str, container, stream) -> FrameTable:
    """Demux (no decoding) the video stream into a FrameTable; rewinds afterwards."""
    pts, key = [], []
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            pts.append(packet.pts)
            key.append(packet.is_keyframe)
    except av.FFmpegError as e:
        raise _fail(uri, f"corrupt or truncated stream while demuxing ({_short(e)})") from None
    if not pts:
        raise _fail(uri, "video stream holds no frames")
    order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
    p = np.asarray(pts, dtype=np.int64)[order]
    k = np.asarray(key, dtype=bool)[order]
    declared = int(stream.frames or 0)
    if declared and len(p) < declared * (1 - TRUNCATION_TOLERANCE) and declared - len(p) >= 2:
        raise _fail(uri, f"truncated: header declares {declared} frames, file holds {len(p)}")
    if len(p) > 1 and np.any(np.diff(p) == 0):
        dup = int(np.sum(np.diff(p) == 0)) + 1
        raise _fail(uri, f"zero frame rate: {dup} of {len(p)} frames share a timestamp")
    tb = float(stream.time_base)
    kf = p[k] if k.any() else p[:1]
    container.seek(int(p[0]), stream=stream, backward=True)
    return FrameTable(pts=p, times=(p - p[0]) * tb, keyframe_pts=kf, time_base=tb)


def first_frame_rotation(uri: str, container, stream) -> int:
    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0)) % 360
    except av.FFmpegError as e:
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
