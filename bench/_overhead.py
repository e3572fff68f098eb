"""Where a Ray Data stage's time goes on this machine: the CPU-seconds of every process during a
run, split into the task workers (the work), Ray's own processes (GCS, raylet, dashboard agents,
log monitor) and the driver (Ray Data's streaming executor); and the same stage's metrics
work under variants of its Ray Data plan (task size, whole CPUs, a warm actor pool)."""

from __future__ import annotations

import contextlib
import os
import time

import psutil

# Ray's own processes: those a cluster runs on the head only, and those every node runs
HEAD = ("gcs_server", "dashboard/dashboard.py", "autoscaler/_private/monitor.py", "ray_client_server")
NODE = ("raylet", "agent.py", "log_monitor", "runtime_env")


def _kind(p: psutil.Process) -> str | None:
    if p.pid == os.getpid():
        return "driver"
    try:
        cmd = " ".join(p.cmdline())
    except (psutil.Error, OSError):
        return None
    if cmd.startswith("ray::") or "default_worker.py" in cmd:
        return "workers"
    if "ray" in cmd and any(s in cmd for s in HEAD):
        return "ray_head"
    if "ray" in cmd and any(s in cmd for s in NODE):
        return "ray_node"
    return None


def _cpu(p: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        t = p.cpu_times()
        return t.user + t.system
    return 0.0


class CpuSplit:
    """CPU-seconds per kind of process between start() and stop() (processes born in between
    count from zero; the driver's threads are this process)."""

    def start(self) -> CpuSplit:
        self.t0, self.before = time.perf_counter(), {}
        for p in psutil.process_iter():
            k = _kind(p)
            if k:
                self.before[p.pid] = (k, _cpu(p))
        return self

    def stop(self) -> dict:
        wall = time.perf_counter() - self.t0
        out = {"driver": 0.0, "ray_head": 0.0, "ray_node": 0.0, "workers": 0.0}
        for p in psutil.process_iter():
            k = _kind(p)
            if k:
                out[k] += _cpu(p) - self.before.get(p.pid, (k, 0.0))[1]
        return {"wall_s": round(wall, 2), **{k: round(v, 2) for k, v in out.items()},
                "idle_of_2_cores_s": round(max(0.0, 2 * wall - sum(out.values())), 2)}


def variant(uris: list[str], batch: int, num_cpus: float, actors: int | None) -> float:
    """The metrics stage's work (the same `measure` UDF) under one Ray Data plan: seconds."""
    import ray.data

    from ray_jobs.metrics import measure

    t = time.perf_counter()
    ds = ray.data.from_items([{"uri": u} for u in uris]).repartition(target_num_rows_per_block=batch)
    kw = ({"compute": ray.data.ActorPoolStrategy(size=actors)} if actors else
          {"compute": ray.data.TaskPoolStrategy()})
    if actors:
        ds = ds.map_batches(_Measure, batch_format="pandas", batch_size=batch, num_cpus=num_cpus, **kw)
    else:
        ds = ds.map_batches(measure, batch_format="pandas", batch_size=batch, num_cpus=num_cpus, **kw)
    ds.materialize()
    return time.perf_counter() - t


class _Measure:
    def __call__(self, batch):
        from ray_jobs.metrics import measure

        return measure(batch)
