"""A bounded soak of the scoring service with faults: `w2s serve`'s application on 127.0.0.1
(a local Ray of 2 CPUs, the tiny student), `--requests` requests at `--concurrency` (uploads and
URIs mixed) from a client with bounded retries, and during it:

- at 1/3 of the requests, SIGKILL to the Scorer replica's process; at 2/3, to the Ingress
  replica's: what the client saw (status codes, for how long) and when Serve had a new replica;
- from 40 % to 60 %, the hostile cases of bench/hostile.py (a 10x upload, a trickle, a bomb, a
  10^6-frame video, malformed multipart, path escapes, a wrong key) next to the load.

Measured: p50 / p99 latency, errors (first attempts and after retries), the replicas' RSS after
warm-up and at the end, upload temp directories left behind.

    python bench/soak.py [--requests 2000] [--concurrency 8] [--no-faults] [--quick]

Results: bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import glob
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)
from _common import CACHE, write_result  # noqa: E402

RETRY_STATUSES = {429, 500, 502, 503, 504}  # transient (docs/serving.md); any other 4xx is final
API_KEY = "soak-bench-key"
PORT = 8768


def client_call(url: str, clip: str, upload: bool, attempts: int = 6, backoff_s: float = 0.5) -> dict:
    """One request with bounded retries: connection errors and RETRY_STATUSES are retried
    `attempts` times, backing off 0.5, 1, 2, 4, 8 s. The record of every attempt is kept."""
    import requests

    tries, t0 = [], time.perf_counter()
    for k in range(attempts):
        ta = time.perf_counter()
        try:
            if upload:
                with open(clip, "rb") as fh:
                    r = requests.post(url + "/v1/score", files={"video": (os.path.basename(clip), fh)},
                                      headers={"X-API-Key": API_KEY}, timeout=60)
            else:
                r = requests.post(url + "/v1/score", json={"uri": clip}, headers={"X-API-Key": API_KEY}, timeout=60)
            status = r.status_code
        except requests.RequestException as e:
            status = f"{type(e).__name__}"
        tries.append({"at": ta, "status": status, "s": time.perf_counter() - ta})
        if status == 200 or (isinstance(status, int) and status not in RETRY_STATUSES):
            break
        time.sleep(backoff_s * 2**k)
    return {"upload": upload, "tries": tries, "final": tries[-1]["status"], "latency_s": time.perf_counter() - t0}


def replicas() -> dict[str, tuple[int, str]]:
    """deployment -> (pid, actor id) of its live replica."""
    from ray.util.state import list_actors

    out = {}
    for a in list_actors(filters=[("state", "=", "ALIVE")], limit=1000):
        name = a.get("name") or ""  # SERVE_REPLICA::<app>#<deployment>#<id>
        if name.startswith("SERVE_REPLICA::"):
            out[name.split("#")[1]] = (a["pid"], a["actor_id"])
    return out


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


class RssTimeline(threading.Thread):
    """Each replica's RSS every `period` s during the load: [requests sent, {deployment: MB}] (a leak
    climbs with the requests; an allocator's high-water mark levels off)."""

    def __init__(self, pids: dict[str, tuple[int, str]], sent, period: float = 2.0):
        super().__init__(daemon=True)
        self.pids, self.sent, self.period, self.points, self._halt = pids, sent, period, [], threading.Event()

    def run(self):
        while not self._halt.wait(self.period):
            try:
                self.points.append([self.sent(), {d: round(rss_mb(pid), 1) for d, (pid, _) in self.pids.items()}])
            except Exception:  # noqa: BLE001 - a replica gone
                return

    def stop(self) -> list:
        self._halt.set()
        self.join()
        return self.points


class Faults(threading.Thread):
    """Kills a deployment's replica when the client has sent `at` requests; records when Serve
    has a new live replica of it."""

    def __init__(self, plan: list[tuple[int, str]], sent):
        super().__init__(daemon=True)
        self.plan, self.sent, self.events, self._halt = plan, sent, [], threading.Event()

    def run(self):
        for at, deployment in self.plan:
            while self.sent() < at and not self._halt.is_set():
                time.sleep(0.1)
            if self._halt.is_set():
                return
            pid, actor = replicas()[deployment]
            t = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            ev = {"deployment": deployment, "pid": pid, "at_request": at, "t": t, "replaced_after_s": None}
            while not self._halt.is_set() and time.perf_counter() - t < 180:
                now = replicas().get(deployment)
                if now and now[1] != actor:
                    ev["replaced_after_s"], ev["new_pid"] = round(time.perf_counter() - t, 2), now[0]
                    break
                time.sleep(0.2)
            self.events.append(ev)

    def stop(self):
        self._halt.set()
        self.join()


def what_the_client_saw(results: list[dict], ev: dict) -> dict:
    """First attempts that failed from the kill on, their statuses and how long failures lasted."""
    bad = [t for r in results for t in r["tries"] if t["at"] >= ev["t"] - 1 and t["status"] != 200]
    statuses: dict[str, int] = {}
    for t in bad:
        statuses[str(t["status"])] = statuses.get(str(t["status"]), 0) + 1
    last = max((t["at"] + t["s"] for t in bad if t["at"] < ev["t"] + 180), default=ev["t"])
    return {"failed_attempts": len(bad), "statuses": statuses, "failures_for_s": round(max(0.0, last - ev["t"]), 2)}


def hostile_side(base: str, scratch: str, allowed: str, settings: dict, start_at, sent, out: list):
    from hostile import cases, run_all

    catalogue = cases(scratch, allowed, limit_mb=settings["max_upload_mb"], api_key=API_KEY,
                      timeout_s=settings["upload_timeout_s"], skip={"good_upload", "good_uri"})
    while sent() < start_at:
        time.sleep(0.2)
    out += run_all(base, catalogue)


def load(base: str, clips: list[str], n: int, concurrency: int, sent: list) -> tuple[float, list[dict]]:
    """`n` requests, `concurrency` at a time, every other one an upload: (wall s, records)."""
    results, lock = [None] * n, threading.Lock()

    def one(i):
        with lock:
            sent[0] += 1
        results[i] = client_call(base, clips[i % len(clips)], upload=i % 2 == 0)

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as ex:
        list(ex.map(one, range(n)))
    return time.perf_counter() - t0, results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python bench/soak.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--no-faults", action="store_true", help="no replica kills, no hostile cases")
    p.add_argument("--quick", action="store_true", help="300 requests")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable for the replicas, over serve.app.REPLICA_ENV (e.g. "
                   "MALLOC_ARENA_MAX=8: glibc's default on 1 core, to compare); repeatable")
    args = p.parse_args(argv)
    n = 300 if args.quick else args.requests
    env = dict(kv.split("=", 1) for kv in args.env)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ["W2S_API_KEY"] = API_KEY
    import ray
    from _tinypool import base_clips
    from ray import serve
    from scoring import tiny_checkpoint

    from serve.app import REPLICA_ENV
    from serve.local import start

    root = tempfile.mkdtemp(prefix="w2s-bench-soak-")
    allowed, scratch = os.path.join(root, "allowed"), os.path.join(root, "scratch")
    os.makedirs(allowed)
    clips = []
    for i, src in enumerate(base_clips(8, os.path.join(CACHE, "scale_pool"))["uri"]):
        clips.append(shutil.copy(src, os.path.join(allowed, f"clip{i}.mp4")))
    ckpt, _ = tiny_checkpoint(root)
    settings = {"model_dir": ckpt, "allowed_roots": [allowed], "max_upload_mb": 8.0,
                "upload_timeout_s": 10.0, "upload_idle_timeout_s": 5.0}
    temp_glob = os.path.join(tempfile.gettempdir(), "w2s-upload-*")
    temp_before = len(glob.glob(temp_glob))
    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False,  # list_actors needs it
             runtime_env={"env_vars": {**REPLICA_ENV, "PYTHONPATH": ROOT, "W2S_API_KEY": API_KEY, **env}})
    base = f"http://127.0.0.1:{PORT}"
    hostile, sent, events, fault_results, fault_wall, rss_points = [], [0], [], [], 0.0, []
    try:
        t = time.perf_counter()
        start(settings, port=PORT)
        up_s = time.perf_counter() - t
        warm = [client_call(base, clips[i % len(clips)], upload=i % 2 == 0) for i in range(20)]
        pids = replicas()
        rss_start = {d: round(rss_mb(pid), 1) for d, (pid, _) in pids.items()}
        side = threading.Thread(target=hostile_side, args=(base, scratch, allowed, settings, int(0.4 * n),
                                                           lambda: sent[0], hostile), daemon=True)
        if not args.no_faults:
            side.start()
        timeline = RssTimeline(pids, lambda: sent[0])
        timeline.start()
        wall, results = load(base, clips, n, args.concurrency, sent)
        if side.is_alive():
            side.join(timeout=300)
        time.sleep(2)
        rss_points = timeline.stop()
        pids_end = replicas()
        rss_end = {d: round(rss_mb(pid), 1) for d, (pid, _) in pids_end.items()}
        same = {d: pids[d][0] == pids_end[d][0] for d in pids_end if d in pids}
        if not args.no_faults:  # phase 2: the same load, a replica killed at 1/3 and at 2/3
            m, sent2 = max(n // 3, 60), [0]
            faults = Faults([(m // 3, "Scorer"), (2 * m // 3, "Ingress")], lambda: sent2[0])
            faults.start()
            fault_wall, fault_results = load(base, clips, m, args.concurrency, sent2)
            faults.stop()
            events = [{k: v for k, v in ev.items() if k != "t"} | {"client_saw": what_the_client_saw(fault_results, ev)}
                      for ev in faults.events]
    finally:
        serve.shutdown()
        ray.shutdown()
    temp_left = len(glob.glob(temp_glob)) - temp_before
    lat = [r["latency_s"] for r in results]
    first_ok = [r for r in results if r["tries"][0]["status"] == 200]
    first_lat = [r["tries"][0]["s"] for r in first_ok]
    ms = lambda xs, q: round(1000 * float(np.percentile(xs, q)), 1) if xs else None  # noqa: E731
    out = {
        "requests": n, "concurrency": args.concurrency, "replica_env": {**REPLICA_ENV, **env}, "wall_s": round(wall, 1),
        "requests_per_s": round(n / wall, 2), "service_start_s": round(up_s, 1), "warmup_requests": len(warm),
        "latency_ms": {"p50": ms(lat, 50), "p99": ms(lat, 99), "first_attempt_ok_p50": ms(first_lat, 50),
                       "first_attempt_ok_p99": ms(first_lat, 99), "max": ms(lat, 100)},
        "uploads": sum(r["upload"] for r in results), "uris": sum(not r["upload"] for r in results),
        "first_attempt_errors": sum(r["tries"][0]["status"] != 200 for r in results),
        "retried_requests": sum(len(r["tries"]) > 1 for r in results),
        "lost_requests": sum(r["final"] != 200 for r in results),
        "final_statuses": sorted({str(r["final"]) for r in results}),
        "replica_rss_mb": {"after_warmup": rss_start, "end": rss_end, "same_process": same,
                           "growth_pct": {d: round(100 * (rss_end[d] / rss_start[d] - 1), 1)
                                          for d in rss_end if d in rss_start},
                           "timeline": rss_points[::max(1, len(rss_points) // 40)]},
        "temp_dirs_left": temp_left, "hostile": hostile,
        "faults": {"requests": len(fault_results), "wall_s": round(fault_wall, 1), "kills": events,
                   "first_attempt_errors": sum(r["tries"][0]["status"] != 200 for r in fault_results),
                   "retried_requests": sum(len(r["tries"]) > 1 for r in fault_results),
                   "lost_requests": sum(r["final"] != 200 for r in fault_results),
                   "max_attempts": max((len(r["tries"]) for r in fault_results), default=0),
                   "max_latency_s": round(max((r["latency_s"] for r in fault_results), default=0), 1)},
        "hostile_ok": all(h["ok"] for h in hostile) if hostile else None,
        "retry_policy": "connection errors and 429/500/502/503/504: up to 6 attempts, backoff 0.5-8 s",
        "goal": "lost 0; replica RSS growth < 10 %; temp dirs left 0; every hostile case its status"}
    shutil.rmtree(root, ignore_errors=True)
    print({k: v for k, v in out.items() if k not in ("hostile",)}, flush=True)
    for h in hostile:
        print(f"  hostile {h['name']:<24} expected {h['expected']} got {h['got']} in {h['seconds']} s")
    write_result("soak_quick" if args.quick else "soak", out)
    return 0 if out["lost_requests"] == 0 and out["faults"]["lost_requests"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
