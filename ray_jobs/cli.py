"""The one way into the stages:

    python -m ray_jobs STAGE|all --config FILE [--stage N] [--set key=value ...] [--verbose]
    python -m ray_jobs.STAGE     --config FILE [...]       (the same; users' scripts call it)
    w2s run STAGE|all            --config FILE [...]       (the same, from the `w2s` command)
    python -m ray_jobs.pipeline  --config FILE [--from STEP] (= `all`: the whole method)

Parses the config (local paths made absolute), opens the quiet log under the run
directory (`--verbose`: everything on the terminal instead), connects to Ray once,
runs the stage(s) from the registry in order and turns the expected failures (a
missing input, a bad config) into a one-line error with exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pathlib
import shutil
import sys
import tempfile
import time
import traceback

from ray_jobs import registry
from ray_jobs.console import console, quiet_output
from w2s import uri
from w2s.config import load_config
from w2s.rundir import MissingInput, RunDir

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def build_parser(prog: str, stage: registry.Stage | None = None, pipeline: bool = False) -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    if pipeline:
        from ray_jobs import pipeline as pl

        p = argparse.ArgumentParser(prog=prog, description=pl.__doc__, formatter_class=fmt)
    elif stage is not None:
        p = argparse.ArgumentParser(prog=prog, description=stage.doc, formatter_class=fmt)
    else:
        listing = "\n".join(f"  {s.name:<15} {s.help}" for s in registry.STAGES)
        p = argparse.ArgumentParser(
            prog=prog, formatter_class=fmt,
            description=f"Run a pipeline stage, or `all`: the whole method (python -m ray_jobs.pipeline)."
                        f"\n\nstages:\n{listing}\n"
                        f"  {'all':<15} every stage in order, stage 1 to `stages`, completed ones skipped")
        p.add_argument("which", choices=[*registry.BY_NAME, "all"], metavar="STAGE")
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/demo.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set select.n=100 (repeatable)")
    if (stage is None and not pipeline) or (stage is not None and stage.iterative):
        p.add_argument("--stage", type=int, default=None, metavar="N",
                       help="the method's stage N for train_student / anchors / heldout / score / mine_pairs / "
                            "cache_motion (default: the config's `stage`, 1)")
    if stage is None:
        p.add_argument("--from", dest="from_step", default=None, metavar="STEP",
                       help="pipeline: redo STEP (e.g. train_student@2, or a stage name: its first step) and "
                            "every step after it, even if completed")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show Ray's and the libraries' logs on the terminal instead of the log file")
    return p


def _log_target(run: RunDir, name: str) -> tuple[str, str]:
    """(local file to write, where it belongs under the run directory)."""
    dest = uri.join(run.logs(), f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.log")
    local = uri.local_path(dest) if run.is_local else os.path.join(tempfile.mkdtemp(prefix="w2s-log-"),
                                                                    os.path.basename(dest))
    return local, dest


def _run(steps: list[registry.Step], cfg, skip=None) -> None:
    """Run the steps in order on one Ray connection; `skip(step)` -> a reason to skip it, or None."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, force=True)
    from ray_jobs.runtime import init_ray, reenter

    uses_ray, cwd = any(s.stage.needs_ray for s in steps), os.getcwd()
    if uses_ray:
        init_ray(cfg)
    try:
        for i, step in enumerate(steps, 1):
            reenter(cwd)  # a job's working_dir unpacked again under a running driver (runtime.reenter)
            why = skip(step) if skip else None
            if len(steps) > 1:
                console.print(f"-- step {i}/{len(steps)}: {step.name} ({step.stage.help})"
                              + (f": skipped, {why}" if why else ""))
            if not why:
                step.run(cfg)
    finally:
        if uses_ray:  # while the log is still open: the last worker lines Ray forwards land there
            import ray

            ray.shutdown()


def run_stages(steps: list[registry.Step], cfg, verbose: bool, name: str, skip=None, after=None) -> int:
    """Run `steps` with the quiet log (unless verbose); 0 ok, 2 a user error, 1 a crash.
    `after(cfg)` runs when every step succeeded (the pipeline's summary)."""
    run = RunDir(cfg.run_dir)
    local_log, dest = _log_target(run, name)
    with contextlib.ExitStack() as stack:
        if not verbose:
            if not run.is_local:  # the log is written here, copied under the run directory, removed
                stack.callback(shutil.rmtree, os.path.dirname(local_log), ignore_errors=True)
                stack.callback(lambda: uri.write_bytes(dest, pathlib.Path(local_log).read_bytes()))
            stack.enter_context(quiet_output(local_log))
            console.print(f"w2s: {name} on {run.root}; full log: {dest} (--verbose shows it here)")
        try:
            _run(steps, cfg, skip)
            if after:
                after(cfg)
            return 0
        except MissingInput as e:
            console.error(str(e))
        except SystemExit as e:
            if not isinstance(e.code, str):
                raise
            console.error(e.code)
        except ValueError as e:  # bad values met at run time (a config key, an input file)
            logging.getLogger("ray_jobs").exception("%s failed", name)
            console.error(f"{e} (traceback in {dest})" if not verbose else str(e))
        except Exception:
            console.error(f"{name} failed:\n{traceback.format_exc()}")
            return 1
        return 2


def main(argv: list[str] | None = None, prog: str = "python -m ray_jobs", stage: str | None = None) -> int:
    spec = registry.get(stage) if stage else None
    p = build_parser(prog, spec)
    args = p.parse_args(argv)
    name = stage or args.which
    cfg = parse_config(p, args)
    if name == "all":
        from ray_jobs.pipeline import run_pipeline

        return run_pipeline(cfg, args.from_step, args.verbose, p)
    if getattr(args, "from_step", None):
        p.error("--from goes with `all` (the pipeline)")
    steps = registry.resolve(name, cfg.stage)
    return run_stages(steps, cfg, args.verbose, steps[0].name if cfg.stage > 1 else name)


def parse_config(p: argparse.ArgumentParser, args):
    """The config with --set and --stage applied, local paths made absolute; exit 2 when bad."""
    sets = list(args.set) + ([f"stage={args.stage}"] if getattr(args, "stage", None) is not None else [])
    try:
        return load_config(args.config, sets).with_absolute_paths()
    except (ValueError, OSError) as e:
        p.exit(2, f"{p.prog}: error: bad config: {e}\n")


def stage_main(stage: str) -> None:
    """`python -m ray_jobs.<stage>`: the same as `python -m ray_jobs <stage>`."""
    sys.exit(main(sys.argv[1:], prog=f"python -m ray_jobs.{stage}", stage=stage))


def _add_run_command(sub) -> None:
    """`w2s run` / `w2s serve` in the `w2s --help` listing (their arguments are parsed by their
    own mains, see w2s_main)."""
    sub.add_parser("run", help="run a pipeline stage or `all` (same as python -m ray_jobs)")
    sub.add_parser("serve", help="the scoring service (Ray Serve) on this machine, in the foreground")
    sub.add_parser("evaluate", help="students (+ teachers) on VQA benchmarks (= w2s run evaluate)")


def w2s_main(argv: list[str] | None = None) -> int:
    """The `w2s` console script: the library's commands plus `run`."""
    from w2s.cli import main as library_main

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:
        return main(argv[1:], prog="w2s run")
    if argv[:1] == ["evaluate"]:
        return main(argv[1:], prog="w2s evaluate", stage="evaluate")
    if argv[:1] == ["serve"]:
        from serve.local import main as serve_main

        return serve_main(argv[1:])
    return library_main(argv, extra_commands=_add_run_command)
