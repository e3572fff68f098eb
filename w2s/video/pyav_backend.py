"""PyAV (FFmpeg) decoding backend, the default.

Decodes forward and converts (YUV->RGB, resize in swscale) only the requested
frames. Before each requested frame it seeks to that frame's key frame when the
key frame lies further ahead than `seek_gap` frames: with the short GOPs of
social-media uploads a 1-fps sample then decodes a fraction of the video.
"""

from __future__ import annotations

import contextlib

import av
import numpy as np

from w2s.video.errors import VideoDecodeError
from w2s.video.reader import Size, VideoReader, rotate
from w2s.video.source import (
    VideoInfo,
    _short,
    check_frame_size,
    first_frame_rotation,
    open_video,
    read_frame_table,
    stream_fps,
)

SEEK_GAP = 12  # seek only when it skips at least this many frames


class PyAVReader(VideoReader):
    backend = "pyav"

    def __init__(self, uri: str, seek: bool = True, threads: bool = True):
        super().__init__(uri)
        self.seek = seek
        self.threads = threads
        self._stack: contextlib.ExitStack | None = None

    def _open(self) -> None:
        self._stack = contextlib.ExitStack()
        try:
            self._container, self._stream = self._stack.enter_context(open_video(self.uri))
            if self.threads:
                self._stream.thread_type = "AUTO"
            fps = stream_fps(self.uri, self._stream)
            self._table = read_frame_table(self.uri, self._container, self._stream)
            self._rotation = first_frame_rotation(self.uri, self._container, self._stream)
            self._container.seek(int(self._table.pts[0]), stream=self._stream, backward=True)
        except BaseException:
            self._stack.close()
            raise
        self.times = self._table.times
        self._fresh = True
        cc = self._stream.codec_context
        w, h = (cc.height, cc.width) if self._rotation in (90, 270) else (cc.width, cc.height)
        n = len(self._table)
        self.info = VideoInfo(
            uri=self.uri,
            width=int(w),
            height=int(h),
            fps=fps,
            num_frames=n,
            duration=float(self.times[-1]) + 1.0 / fps,
            codec=cc.name,
            rotation=self._rotation,
        )

    def _close(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def _convert(self, frame: av.VideoFrame, size: Size | None) -> np.ndarray:
        if size is None:
            out = frame.to_ndarray(format="rgb24")
        else:
            w, h = size
            if self._rotation in (90, 270):
                w, h = h, w
            out = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
        return rotate(out, self._rotation)

    def _read(self, indices: np.ndarray, size: Size | None):
        table, container, stream = self._table, self._container, self._stream
        decoder = None
        pos = -1  # index of the last decoded frame
        fresh, self._fresh = self._fresh, False  # a second read starts with a seek
        try:
            for target in indices.tolist():
                kf_index = table.index_of(table.keyframe_before(target))
                must_seek = decoder is None and not fresh
                if must_seek or (self.seek and kf_index - pos > SEEK_GAP and pos < target):
                    container.seek(int(table.pts[kf_index]), stream=stream, backward=True)
                    decoder = container.decode(stream)
                    pos = kf_index - 1
                elif decoder is None:
                    decoder = container.decode(stream)
                found = False
                for frame in decoder:
                    idx = table.index_of(frame.pts) if frame.pts is not None else pos + 1
                    pos = idx
                    if idx == target:
                        yield idx, self._convert(frame, size)
                        found = True
                        break
                    if idx > target:
                        break
                if not found:
                    raise VideoDecodeError(
                        self.uri, f"frame {target} of {len(table)} could not be decoded"
                    )
        except av.FFmpegError as e:
            check_frame_size(self.uri, stream)  # a frame grown past MAX_PIXELS mid-stream: say so
            raise VideoDecodeError(self.uri, f"decoding failed ({_short(e)})") from None
