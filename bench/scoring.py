"""Scoring benchmarks, each against its baseline in the same script:

1. MAP: batched Newton (w2s.scoring.map_scores) vs per-video scipy.optimize.minimize (BFGS) on
   the same 10,000 6x6 matrices: speed ratio and max |score difference| (0..100).
2. Work per scored video: vision-tower passes, and LLM tokens with the cached anchor prefixes
   vs full prompts (naive), measured on the tiny student and computed for the paper's prompt
   (8 key frames at 384 px: 8 x 196 + 1 frame tokens and 8 motion tokens per video).
3. Serve (tiny student, real HTTP on a local Ray): p50 / p99 latency of POST /v1/score vs the
   same scoring in process; throughput at concurrency 16 with @serve.batch vs max_batch_size=1.

    python bench/scoring.py [--quick]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench._common import CACHE, long_clip, write_result  # noqa: E402


def bench_map(n: int) -> dict:
    from scipy.optimize import minimize

    from w2s.scoring import map_scores
    from w2s.scoring.mapping import objective, scale_0_100
    from w2s.scoring.scorer import test_matrices

    rng = np.random.default_rng(0)
    block = np.triu(rng.random((5, 5)), 1)
    block = block + np.tril(1 - block.T, -1) + np.diag(np.full(5, 0.5))
    m = test_matrices(block, rng.random((n, 5)))
    t = time.perf_counter()
    ours = map_scores(m)
    batched = time.perf_counter() - t
    t = time.perf_counter()
    ref = np.stack([scale_0_100(minimize(lambda q, mm=mm: -objective(q[None], mm[None])[0], np.zeros(6),
                                         method="BFGS", options={"gtol": 1e-8}).x[None])[0] for mm in m])
    per_video = time.perf_counter() - t
    return {"matrices": n, "batched_newton_s": round(batched, 3), "scipy_minimize_s": round(per_video, 2),
            "speed_ratio": round(per_video / batched, 1), "max_abs_score_diff": float(np.abs(ours - ref).max()),
            "goal": "speed ratio >= 50, max diff < 0.5"}


def tiny_checkpoint(root: str) -> tuple[str, list[str]]:
    """A tiny student saved like the export, with anchors from the sample pool (2 key frames)."""
    import pandas as pd

    from w2s.pool import build_pool
    from w2s.scoring.build import build_anchors
    from w2s.student.presets import create_student, image_processor

    pool = build_pool(12, os.path.join(CACHE, "pool_scoring"), seed=4, progress=False)
    path = os.path.join(root, "student")
    model, tok = create_student("tiny", seed=0)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    image_processor(model).save_pretrained(path)
    uris = list(pool["uri"])
    build_anchors(path, pd.Series(np.linspace(-1, 1, len(uris)), index=uris), max_frames=2, motion_size=32)
    return path, uris


def bench_tokens(ckpt: str, clips: list[str]) -> dict:
    from w2s.scoring.scorer import Scorer

    out = {}
    for name, cache in (("cached", True), ("naive", False)):
        s = Scorer.from_pretrained(ckpt, cache_prefix=cache)
        before = dict(s.counters)
        s.score(clips)
        out[name] = {k: (s.counters[k] - before.get(k, 0)) / len(clips) for k in ("vision_passes", "llm_tokens")}
    enc = s.encoder  # the paper's prompt sizes, text tokens from the tiny word-level tokenizer
    video = [8 * 196 + 1, 8]
    naive = 5 * len(enc.encode(video + video).ids)
    cached = 5 * len(enc.split(video + video)[1].ids)
    return {"tiny_student": {"vision_passes_per_video": out["cached"]["vision_passes"],
                             "llm_tokens_per_video_cached": out["cached"]["llm_tokens"],
                             "llm_tokens_per_video_naive": out["naive"]["llm_tokens"],
                             "ratio": round(out["cached"]["llm_tokens"] / out["naive"]["llm_tokens"], 3)},
            "paper_prompt_8_frames_384px": {"llm_tokens_per_video_cached": cached,
                                            "llm_tokens_per_video_naive": naive, "ratio": round(cached / naive, 3),
                                            "note": "prefix (system + anchor) computed once per anchor at load"},
            "goal": "1 vision pass per video; cached / naive <= 0.6"}


def student_batching(scorer, clip: str, n: int = 16) -> dict:
    """The student's share (vision tower, LLM against 5 anchors, MAP) batched vs one at a time,
    on decoded inputs whose motion features are already computed (SlowFast left out)."""
    from w2s.scoring.inputs import VideoInputs

    x = scorer.prepare(clip)
    x = VideoInputs(x.uri, x.frames, None, scorer.extractor.features_from_chunks(x.chunks))
    one = min(_time(lambda: [scorer.score_inputs([x]) for _ in range(n)]) for _ in range(3))
    batched = min(_time(lambda: scorer.score_inputs([x] * n)) for _ in range(3))
    return {"videos": n, "one_at_a_time_s": round(one, 4), "batched_s": round(batched, 4),
            "ratio": round(one / batched, 2)}


def _model_s(t: dict) -> float:
    """The scorer's own time of one answer (features, LLM, MAP): decode and transport excluded."""
    return t["features_s"] + t["llm_s"] + t["map_s"]


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _throughput(url: str, clip: str, n: int, concurrency: int) -> tuple[float, list[int]]:
    import requests

    def call(_):
        r = requests.post(url + "/v1/score", json={"uri": clip}, timeout=600)
        r.raise_for_status()
        return r.json()["timings"]["batch_size"]

    t = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as ex:
        sizes = list(ex.map(call, range(n)))
    return n / (time.perf_counter() - t), sizes


def bench_serve(ckpt: str, clips: list[str], n_lat: int, n_tp: int) -> dict:
    import ray
    import requests
    from ray import serve

    from serve.app import build_app
    from w2s.scoring.scorer import Scorer

    # a small real clip (2 s, 128 x 96): decoding stays cheap, so the model side is what is measured
    clip = long_clip(2, 128, 96, fps=25)
    scorer = Scorer.from_pretrained(ckpt)
    scorer.score([clip])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the Scorer replica: Ray sets OMP_NUM_THREADS = its num_cpus (1)
    local, local_model = [], []
    for _ in range(n_lat):
        t = time.perf_counter()
        r = scorer.score([clip])[0]
        local.append(time.perf_counter() - t)
        local_model.append(_model_s(r.timings))
    student = student_batching(scorer, clip)
    torch.set_num_threads(threads)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": 8765})
    url, res = "http://127.0.0.1:8765", {}
    try:
        for batch, wait in ((16, 0.0), (16, 0.02), (1, 0.0)):
            serve.run(build_app({"model_dir": ckpt, "allowed_roots": [os.path.dirname(clip)],
                                 "max_batch_size": batch, "batch_wait_timeout_s": wait}), name="w2s")
            if batch == 16 and wait == 0:
                requests.post(url + "/v1/score", json={"uri": clip}).raise_for_status()
                health = []
                for _ in range(n_lat):
                    t = time.perf_counter()
                    requests.get(url + "/healthz").raise_for_status()
                    health.append(time.perf_counter() - t)
                lat, served_model = [], []
                for _ in range(n_lat):
                    t = time.perf_counter()
                    r = requests.post(url + "/v1/score", json={"uri": clip})
                    lat.append(time.perf_counter() - t)
                    r.raise_for_status()
                    served_model.append(_model_s(r.json()["timings"]))
            rps, sizes = _throughput(url, clip, n_tp, 16)
            res[batch, wait] = {"requests_per_s": round(rps, 2), "mean_batch_size": round(float(np.mean(sizes)), 2),
                                "batch_wait_timeout_s": wait}
            serve.delete("w2s")
    finally:
        serve.shutdown()
        ray.shutdown()
    ms = lambda xs, q: round(1000 * float(np.percentile(xs, q)), 1)  # noqa: E731
    return {"latency_ms": {"http_p50": ms(lat, 50), "http_p99": ms(lat, 99), "in_process_p50": ms(local, 50),
                           "in_process_p99": ms(local, 99), "http_overhead_p50": round(ms(lat, 50) - ms(local, 50), 1),
                           "healthz_p50": ms(health, 50), "model_p50_in_replica": ms(served_model, 50),
                           "model_p50_in_process": ms(local_model, 50),
                           "overhead_p50_outside_the_model": round(
                               (ms(lat, 50) - ms(served_model, 50)) - (ms(local, 50) - ms(local_model, 50)), 1), "requests": n_lat, "batch_wait_timeout_s": 0.0,
                           "in_process_threads": 1},
            "throughput_concurrency_16": {
                "batched_max_batch_size_16": res[16, 0.0], "batched_max_batch_size_16_wait_20ms": res[16, 0.02],
                "max_batch_size_1": res[1, 0.0], "requests": n_tp,
                "ratio": round(res[16, 0.0]["requests_per_s"] / res[1, 0.0]["requests_per_s"], 2),
                "ratio_wait_20ms": round(res[16, 0.02]["requests_per_s"] / res[1, 0.0]["requests_per_s"], 2)},
            "student_batching_in_process": student,
            "goal": "HTTP overhead p50 <= 10 ms; batched / unbatched throughput >= 3"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    result = {"map": bench_map(1000 if args.quick else 10_000)}
    print(result["map"], flush=True)
    tmp = tempfile.mkdtemp(prefix="w2s-bench-scoring-")
    try:
        ckpt, clips = tiny_checkpoint(tmp)
        result["work_per_video"] = bench_tokens(ckpt, clips[:4])
        print(result["work_per_video"], flush=True)
        result["serve"] = bench_serve(ckpt, clips, 10 if args.quick else 50, 32 if args.quick else 96)
        print(result["serve"], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_result("scoring", result)


if __name__ == "__main__":
    main()
