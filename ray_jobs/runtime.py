"""The stages' link to Ray: connecting (a local Ray or the cluster), and resuming
a Ray Data stage (the rows already in its output are skipped)."""

from __future__ import annotations

import functools
import os

from w2s import rundir
from w2s.config import Resources, RunCfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def init_ray(cfg: RunCfg) -> None:
    """Connect to the cluster (RAY_ADDRESS / ray.address) or start a local Ray."""
    import ray
    from ray.data import DataContext

    if not ray.is_initialized():
        cwd = os.getcwd()
        address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
        # no address: a new local Ray, even if `ray start` left a cluster (or its address file) here
        kwargs = {"address": address or "local"}
        if not address and cfg.ray.num_cpus:
            kwargs["num_cpus"] = cfg.ray.num_cpus
        # workers import w2s / ray_jobs from this checkout when it is not installed there
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        ray.init(runtime_env={"env_vars": env}, log_to_driver=True, **kwargs)
        reenter(cwd)
    ctx = DataContext.get_current()
    # in quiet mode stdout is the log file, so Ray Data logs its progress there (no bars)
    ctx.enable_progress_bars = cfg.ray.progress_bars
    ctx.op_resource_reservation_enabled = cfg.ray.op_resource_reservation


def gpus_per_actor(requested: float | None) -> float:
    """A model actor's GPUs: the config's value, or (null) one when the cluster has GPUs."""
    import ray

    if requested is not None:
        return float(requested)
    return 1.0 if ray.cluster_resources().get("GPU", 0) else 0.0


def ray_args(res: Resources, actor: bool) -> dict:
    """Ray's resource arguments (map_batches, `.options`) of one task or actor from the stage's
    declaration: what the autoscaler sizes the worker groups by. An actor's GPUs: null = one when
    the cluster has GPUs; a task gets GPUs only when it asks for them."""
    gpus = gpus_per_actor(res.num_gpus) if actor else float(res.num_gpus or 0)
    out = {"num_cpus": res.num_cpus, **({"num_gpus": gpus} if gpus else {})}
    return {**out, **({"memory": res.memory_mb * 2**20} if res.memory_mb else {})}


def reenter(cwd: str) -> None:
    """Step back into `cwd` by its path. In a `ray job submit` driver, ray.init() makes the runtime
    env agent unpack the job's working_dir again: the driver's working directory is then a deleted
    directory (getcwd() fails; torch's MKL cannot load, "Intel oneMKL FATAL ERROR: Cannot load
    libtorch_cpu.so"; transformers cannot import), while a fresh copy stands at the same path."""
    try:
        os.getcwd()
    except FileNotFoundError:
        if os.path.isdir(cwd):
            os.chdir(cwd)


@functools.lru_cache(maxsize=4)
def _resolve(ref) -> frozenset:
    import ray

    return frozenset(ray.get(ref)) if ref is not None else frozenset()


def _drop_done(batch, done=None):
    return rundir.drop_done(batch, _resolve(done))


def skip_done(ds, output: str | list[str]):
    """`ds` (rows with a `uri`) without the URIs already in the stage output `output` (a list:
    in every one of them), and how many of its rows those were. The done set goes to the object
    store once; each worker reads it once."""
    import ray

    outputs = [output] if isinstance(output, str) else output
    done = set(rundir.done_uris(outputs[0]))
    for o in outputs[1:]:
        done &= set(rundir.done_uris(o))
    done = sorted(done)
    if not done:
        return ds, 0
    rest = ds.map_batches(_drop_done, batch_format="pandas", fn_kwargs={"done": ray.put(done)})
    return rest, ds.count() - rest.count()  # the output may hold videos that are not inputs now
