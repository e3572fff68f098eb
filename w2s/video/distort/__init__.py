"""Synthetic distortion simulators: the heterogeneous weak teachers (METHOD.md section 2).

`distort(src, out, kind, level)` renders one level of one family; level 1 is the
mildest. Spatial and temporal outputs are stored losslessly (x264 CRF 0, 4:4:4)
so the simulated distortion is the only degradation, with a 1-second GOP (the
student's key frames, one per second, then decode alone); compression runs the real
encoder. What was done (parameter, encoder, preset, effective CRF, seed) is
returned and stored as JSON in the output's `comment` tag.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from w2s.video import fit_short_side, open_reader
from w2s.video.distort import spatial, temporal
from w2s.video.encode import NEAR_LOSSLESS, REPRODUCIBLE_X264, EncodeSpec, VideoWriter

H264_CRF = (24, 36, 48, 63)
H265_CRF = (36, 40, 44, 48)
H264_PRESET = "fast"
H265_PRESET = "veryslow"
# Compression renders are reproducible bit for bit (the cluster job's renders equal the local
# chain's): x264's default frame threads follow the CPUs a process sees (a render pinned to one
# CPU differed from one on two), and with one thread x264's macroblock-tree rate control still
# encoded the same frames differently from one call to the next in this build (4 encodes of the
# same yuv420p input, 4 outputs; mbtree=0: 4 equal outputs on 4 pool clips x 2 levels; issue 24's
# note). So one frame thread and no mbtree (REPRODUCIBLE_X264); x265 (frame-threads=1) encoded the
# same bits each time.
ENCODE_THREADS = 1


@dataclass(frozen=True)
class Family:
    name: str
    group: str  # spatial | temporal | compression
    levels: tuple
    unit: str

    @property
    def num_levels(self) -> int:
        return len(self.levels)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("resize", "spatial", spatial.RESIZE, "scale factor"),
        Family("blur", "spatial", spatial.BLUR, "gaussian sigma (px)"),
        Family("noise", "spatial", spatial.NOISE, "noise variance"),
        Family("darken", "spatial", spatial.DARKEN, "tone-curve strength"),
        Family("brighten", "spatial", spatial.BRIGHTEN, "tone-curve strength"),
        Family("jitter", "temporal", temporal.JITTER, "max shift / width"),
        Family("stutter", "temporal", temporal.STUTTER, "repeat probability"),
        Family("h264", "compression", H264_CRF, "CRF (libx264)"),
        Family("h265", "compression", H265_CRF, "CRF (libx265)"),
    ]
}
KINDS = tuple(FAMILIES)

_SPATIAL = {
    "resize": spatial.resize,
    "blur": spatial.blur,
    "noise": spatial.noise,
    "darken": spatial.darken,
    "brighten": spatial.brighten,
}


def family(kind: str) -> Family:
    try:
        return FAMILIES[kind]
    except KeyError:
        raise ValueError(f"unknown distortion {kind!r}; choose from {', '.join(KINDS)}") from None


def encode_spec(kind: str, level: int, preset: str | None = None) -> EncodeSpec:
    """The encoder settings used for `kind` at `level`."""
    fam = family(kind)
    if kind == "h264":
        return EncodeSpec("libx264", fam.levels[level - 1], preset or H264_PRESET, "yuv420p",
                          dict(REPRODUCIBLE_X264))
    if kind == "h265":
        return EncodeSpec("libx265", fam.levels[level - 1], preset or H265_PRESET, "yuv420p",
                          {"x265-params": f"log-level=error:frame-threads={ENCODE_THREADS}"})
    return NEAR_LOSSLESS


def _rng(seed: int, kind: str, level: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(kind.encode()), level])


def _frame_fn(kind: str, param, rng):
    if kind in _SPATIAL:
        fn = _SPATIAL[kind]

        def apply(frame: np.ndarray) -> np.ndarray:
            out = fn(frame.astype(np.float32) / 255.0, param, rng)
            return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)

        return apply
    if kind == "jitter":
        return lambda frame: temporal.jitter(frame, param, rng)
    if kind == "stutter":
        return temporal.Stutter(param, rng)
    return lambda frame: frame  # compression: the encoder is the distortion


def distort(src: str, out: str, kind: str, level: int, seed: int = 0,
            preset: str | None = None, max_short_side: int | None = None,
            lossless_preset: str | None = None) -> dict:
    """Render `kind` at `level` (1-based) of video `src` into `out` (.mp4). Returns metadata.
    `max_short_side` first scales larger sources down (keeps storage of lossless outputs bounded).
    `lossless_preset`: the x264 preset of the lossless outputs (the same pixels at any preset;
    faster ones store more bytes)."""
    fam = family(kind)
    if not 1 <= level <= fam.num_levels:
        raise ValueError(f"{kind} has levels 1..{fam.num_levels}, got {level}")
    if preset is not None and fam.group != "compression":
        raise ValueError("--preset applies to h264/h265 only")
    param = fam.levels[level - 1]
    spec = encode_spec(kind, level, preset)
    apply = _frame_fn(kind, param, _rng(seed, kind, level))
    meta = {
        "kind": kind, "group": fam.group, "level": level, "param": param, "unit": fam.unit,
        "seed": seed, "source": str(src), "encoder": spec.to_dict(),
    }
    with open_reader(src) as reader:
        info = reader.info
        if spec == NEAR_LOSSLESS:  # 1-s GOP: key frames (1 per second) decode without their GOP
            spec = replace(spec, preset=lossless_preset or spec.preset, options={"g": str(max(1, round(info.fps)))})
            meta["encoder"] = spec.to_dict()
        size = None
        if max_short_side and min(info.width, info.height) > max_short_side:
            size = fit_short_side(info.width, info.height, max_short_side)
        meta["size"] = list(size or (info.width, info.height))
        with VideoWriter(out, info.fps, spec, metadata={"comment": {"w2s_distortion": meta}}) as w:
            for _, frame in reader.frames(range(reader.num_frames), size=size):
                w.write(apply(frame))
    meta.update(frames=w.frames, fps=info.fps, width=meta["size"][0], height=meta["size"][1],
                padded_to_even=w.padded, output=str(out))
    return meta
