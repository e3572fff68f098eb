"""The one way into the stages; every command below is this module's `main`:

    python -m ray_jobs STAGE|all --config FILE [--iteration N] [--set key=value ...] [--verbose]
    python -m ray_jobs.STAGE     --config FILE [...]       (the same; users' scripts call it)
    w2s run STAGE|all            --config FILE [...]       (the same, from the `w2s` command)
    w2s evaluate                 --config FILE [...]       (= w2s run evaluate)
    python -m ray_jobs.pipeline  --config FILE [--from STEP] (= `all`: the whole method)

Parses the config (local paths made absolute) and hands the steps to ray_jobs.runner
(the quiet log under the run directory, one Ray connection, the stages in order, the
expected failures as a one-line error with exit status 2).
"""

from __future__ import annotations

import argparse
import sys

from ray_jobs import registry, runner
from w2s.config import load_config


def build_parser(prog: str, stage: registry.Entry | None = None, pipeline: bool = False) -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    if pipeline:
        p = argparse.ArgumentParser(prog=prog, description=runner.__doc__, formatter_class=fmt)
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
        p.add_argument("--iteration", type=int, default=None, metavar="N",
                       help="the method's iteration N (the paper's stage N) for mine_pairs / cache_motion / "
                            "train_student / anchors / heldout / score (default: the config's `iteration`, 1)")
        p.add_argument("--stage", type=int, default=None, help=argparse.SUPPRESS)  # renamed: refused below
    if stage is None:
        p.add_argument("--from", dest="from_step", default=None, metavar="STEP",
                       help="pipeline: redo STEP (e.g. train_student@2, or a stage name: its first step) and "
                            "every step after it, even if completed")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show Ray's and the libraries' logs on the terminal instead of the log file")
    return p


def main(argv: list[str] | None = None, prog: str = "python -m ray_jobs", stage: str | None = None,
         pipeline: bool = False) -> int:
    spec = registry.get(stage) if stage else None
    p = build_parser(prog, spec, pipeline=pipeline)
    args = p.parse_args(argv)
    name = "all" if pipeline else (stage or args.which)
    cfg = parse_config(p, args)
    if name == "all":
        try:
            return runner.run_pipeline(cfg, args.from_step, args.verbose)
        except ValueError as e:
            p.exit(2, f"{p.prog}: error: {e}\n")
    if getattr(args, "from_step", None):
        p.error("--from goes with `all` (the pipeline)")
    steps = registry.resolve(name, cfg.iteration)
    return runner.run_stages(steps, cfg, args.verbose, steps[0].name if cfg.iteration > 1 else name)


def parse_config(p: argparse.ArgumentParser, args):
    """The config with --set and --iteration applied, local paths made absolute; exit 2 when bad."""
    if getattr(args, "stage", None) is not None:
        p.exit(2, f"{p.prog}: error: --stage is now --iteration (the method's iteration N)\n")
    sets = list(args.set) + ([f"iteration={args.iteration}"] if getattr(args, "iteration", None) is not None else [])
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
