"""Shared helpers for the benchmarks: test clips made with the real encoder, result files."""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
from PIL import Image

from w2s.pool import source_path
from w2s.video import open_reader
from w2s.video.encode import EncodeSpec, VideoWriter

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".cache")
RESULTS = os.path.join(HERE, "results")


def long_clip(seconds: int, width: int, height: int, fps: int = 30, gop_s: float = 2.0) -> str:
    """A `seconds`-long clip of real footage (bigbuckbunny + bikes, ping-ponged, with a slow
    zoom so frames differ), encoded like an upload: libx264 CRF 23, `gop_s`-second GOP."""
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f"clip_{seconds}s_{width}x{height}_{fps}fps_gop{gop_s}.mp4")
    if os.path.exists(path):
        return path
    src = []
    for name in ("bigbuckbunny.mp4", "bikes.mp4"):
        with open_reader(source_path(name)) as r:
            src += [Image.fromarray(f) for _, f in r.frames(range(0, r.num_frames, 2))]
    seq = src + src[::-1]
    spec = EncodeSpec("libx264", 23, "ultrafast", "yuv420p", {"g": str(int(gop_s * fps))})
    with VideoWriter(path + ".part.mp4", fps, spec) as w:
        for i in range(seconds * fps):
            img = seq[i % len(seq)]
            z = 1.0 + 0.2 * (0.5 + 0.5 * np.sin(i / 40))
            bw, bh = img.width / z, img.height / z
            box = ((img.width - bw) / 2, (img.height - bh) / 2, (img.width + bw) / 2, (img.height + bh) / 2)
            w.write(np.asarray(img.resize((width, height), Image.BILINEAR, box=box)))
    os.replace(path + ".part.mp4", path)
    return path


def timed(fn, repeat: int = 3) -> float:
    """Best wall time of `repeat` runs (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def write_result(name: str, payload: dict) -> str:
    os.makedirs(RESULTS, exist_ok=True)
    payload = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "platform": platform.platform()},
               "date": time.strftime("%Y-%m-%d"), **payload}
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=2)
    print(f"wrote {path}")
    return path


def stage_bench_pool(doc: str):
    """`--quick` from the command line and the sample pool the stage benchmarks share (16 or 48 clips)."""
    import argparse

    from w2s.pool import build_pool

    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    return args, build_pool(16 if args.quick else 48, os.path.join(CACHE, "pool_stages"), seed=2, progress=False)


def run_stage(cmd: list[str], config: str, sets: dict, log: str | None = None) -> float:
    """`python -m <cmd> --config <config> --set k=v ...` from the project root, as a user runs a
    stage (RAY_AUTH_MODE defaults to disabled); output to `log` (appended) or captured. Raises
    with the output's tail on failure; returns the seconds it took."""
    import subprocess
    import sys

    args = [sys.executable, "-m", *cmd, "--config", config]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    t0 = time.time()
    if log:
        with open(log, "a") as fh:
            fh.write(f"\n$ {' '.join(args)}\n")
            fh.flush()
            p = subprocess.run(args, cwd=os.path.dirname(HERE), env=env, stdout=fh, stderr=subprocess.STDOUT,
                               text=True)
        tail = open(log).read()[-4000:] if p.returncode else ""
    else:
        p = subprocess.run(args, cwd=os.path.dirname(HERE), env=env, capture_output=True, text=True)
        tail = p.stdout[-3000:] + p.stderr[-3000:]
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc {p.returncode})" + (f"; log {log}" if log else "") + f":\n{tail}")
    return time.time() - t0
