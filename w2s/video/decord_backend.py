"""decord decoding backend (optional: `pip install w2s-vqa[decord]`).

Gives the same frames as the PyAV backend for the same request: the frame
table comes from decord's own timestamps and the same selection rules apply.
decord 0.6 applies rotation metadata itself at native size but mis-sizes rotated
videos when asked to resize, so rotated videos are resized here (PIL bilinear).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from w2s import uri as uri_mod
from w2s.video.errors import VideoDecodeError
from w2s.video.reader import Size, VideoReader
from w2s.video.source import probe

BATCH = 16  # frames fetched from decord per call


class DecordReader(VideoReader):
    backend = "decord"

    def _open(self) -> None:
        try:
            import decord
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("the decord backend needs `pip install decord`") from e
        info = probe(self.uri)  # validates the file and reads rotation / fps
        self._decord = decord
        self._src = uri_mod.local_path(self.uri) if uri_mod.is_local(self.uri) else None
        if self._src is None:
            with uri_mod.open_binary(self.uri) as fh:
                self._src = _BytesSource(fh.read())
        try:
            vr = decord.VideoReader(self._src, ctx=decord.cpu(0), num_threads=0)
            stamps = vr.get_frame_timestamp(np.arange(len(vr)))
        except decord.DECORDError as e:
            raise VideoDecodeError(self.uri, f"decord cannot read it ({str(e)[:120]})") from None
        self.times = stamps[:, 0].astype(np.float64) - float(stamps[0, 0])
        self.info = info
        self._readers: dict = {None: vr}

    def _reader(self, size: Size | None):
        if self.info.rotation:
            size = None  # resized in _read
        if size not in self._readers:
            w, h = size
            self._readers[size] = self._decord.VideoReader(
                self._src, ctx=self._decord.cpu(0), width=w, height=h, num_threads=0
            )
        return self._readers[size]

    def _close(self) -> None:
        self._readers = {}

    def _read(self, indices: np.ndarray, size: Size | None):
        vr = self._reader(size)
        for start in range(0, len(indices), BATCH):
            batch = indices[start : start + BATCH]
            try:
                frames = vr.get_batch(batch.tolist()).asnumpy()
            except self._decord.DECORDError as e:
                raise VideoDecodeError(self.uri, f"decord failed ({str(e)[:120]})") from None
            for i, frame in zip(batch.tolist(), frames, strict=True):
                if self.info.rotation and size is not None and frame.shape[1::-1] != size:
                    frame = np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))
                yield i, frame


class _BytesSource:
    """decord reads file-like objects; keep remote bytes alive for its lifetime."""

    def __init__(self, data: bytes):
        import io

        self._io = io.BytesIO(data)

    def __getattr__(self, name):
        return getattr(self._io, name)
