"""What every Ray stage shares: CLI parsing, Ray start-up, the summary screen."""

from __future__ import annotations

import argparse
import os
import sys

from w2s.config import RunCfg, load_config


def parse(stage: str, doc: str, argv: list[str] | None = None) -> RunCfg:
    p = argparse.ArgumentParser(prog=f"python -m ray_jobs.{stage}", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/demo.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set select.n=100 (repeatable)")
    args = p.parse_args(argv)
    try:
        return load_config(args.config, args.set)
    except (ValueError, OSError) as e:
        p.exit(2, f"{p.prog}: error: bad config: {e}\n")


def init_ray(cfg: RunCfg) -> None:
    """Connect to the cluster (RAY_ADDRESS / ray.address) or start a local Ray."""
    import ray
    from ray.data import DataContext

    if not ray.is_initialized():
        kwargs = {"address": cfg.ray.address} if cfg.ray.address else {}
        if not cfg.ray.address and not os.environ.get("RAY_ADDRESS") and cfg.ray.num_cpus:
            kwargs["num_cpus"] = cfg.ray.num_cpus
        # workers import w2s / ray_jobs from this checkout when it is not installed there
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        ray.init(runtime_env={"env_vars": env}, log_to_driver=True, **kwargs)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = cfg.ray.progress_bars
    ctx.op_resource_reservation_enabled = cfg.ray.op_resource_reservation


def summary(title: str, rows: dict) -> None:
    """The one-screen summary every stage ends with."""
    width = max(len(k) for k in rows) if rows else 0
    line = "=" * max(40, len(title) + 4)
    out = [line, f"  {title}", line]
    out += [f"  {k:<{width}} : {v}" for k, v in rows.items()]
    out.append(line)
    print("\n".join(out), file=sys.stdout, flush=True)


def stage_main(stage: str, doc: str, run, argv: list[str] | None = None, needs_ray: bool = True):
    """Parse the CLI, connect to Ray (if the stage uses it) and run the stage."""
    cfg = parse(stage, doc, argv)
    if needs_ray:
        init_ray(cfg)
    return run(cfg)
