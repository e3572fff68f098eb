"""The library's commands of the `w2s` command line (probe, distort, metrics, sample-pool, score, report,
plan).

The `w2s` program itself is assembled at the edge, in `ray_jobs.cli`, which adds
`w2s run STAGE` (the Ray stages) to these; the library never imports the stages.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _cmd_probe(args) -> int:
    from w2s.video import probe

    info = probe(args.video)
    if args.json:
        print(json.dumps(info.to_dict()))
    else:
        for k, v in info.to_dict().items():
            print(f"{k:>11}: {v}")
    return 0


def _cmd_distort(args) -> int:
    from w2s.video.distort import distort

    meta = distort(args.input, args.output, args.kind, args.level, seed=args.seed, preset=args.preset)
    print(json.dumps(meta))
    return 0


def _cmd_metrics(args) -> int:
    from w2s.metrics.table import metrics_table

    videos = list(args.videos)
    if args.manifest:
        import pandas as pd

        videos += pd.read_parquet(args.manifest, columns=["uri"])["uri"].tolist()
    if not videos:
        raise SystemExit("w2s metrics: give VIDEO paths or --manifest")
    if len(videos) == 1 and not args.manifest:
        from w2s.metrics import video_metrics

        m = video_metrics(videos[0], backend=args.backend)
        if args.json:
            print(json.dumps(m))
        else:
            for k, v in m.items():
                print(f"{k:>13}: {v:.4f}")
        return 0
    df = metrics_table(videos, workers=args.workers, backend=args.backend)
    if args.out:
        df.to_parquet(args.out, index=False)
    if args.json:
        print(df.to_json(orient="records"))
    else:
        from w2s.metrics.table import format_table

        print(format_table(df))
    return 0


def _cmd_sample_pool(args) -> int:
    from w2s.pool import build_pool

    df = build_pool(args.n, args.out, seed=args.seed, workers=args.workers)
    print(f"{len(df)} clips in {os.path.join(args.out, 'clips')}; "
          f"manifest {os.path.join(args.out, 'manifest.parquet')}")
    print(df[["source", "width", "height", "fps", "duration", "crf"]].describe(include="all")
          .loc[["count", "unique", "mean", "min", "max"]].to_string())
    return 0


def _cmd_score(args) -> int:
    """Score videos with a checkpoint here (no Ray) or on a running service (--url)."""
    if bool(args.model) == bool(args.url):
        raise SystemExit("w2s score: give exactly one of --model DIR or --url http://host:port")
    rows = []
    if args.model:
        from w2s.scoring.scorer import Scorer

        scorer = Scorer.from_pretrained(args.model)
        for video in args.videos:  # one at a time: a bad video is reported, the others still scored
            try:
                s = scorer.score([video])[0]
                rows.append({"video": video, "score": s.score, "c": s.c})
            except Exception as e:  # noqa: BLE001 - reported per video
                rows.append({"video": video, "error": getattr(e, "reason", str(e))})
    else:
        from w2s.scoring.client import score_url

        key = os.environ.get(args.api_key_env)
        for video in args.videos:
            try:
                r = score_url(args.url, video, key, by_uri=args.by_uri)
                rows.append({"video": video, "score": r["score"], "c": r["c"]})
            except (RuntimeError, OSError) as e:
                rows.append({"video": video, "error": str(e)})
    for r in rows:
        print(json.dumps(r) if args.json else
              f"{r['score']:6.2f}  {r['video']}" if "score" in r else f"  error {r['video']}: {r['error']}")
    return 0 if all("score" in r for r in rows) else 2


def _cmd_report(args) -> int:
    from w2s.report import build_report

    path = build_report(args.run_dir, args.out)
    print(f"run report: {path}" + (f"  (open file://{os.path.abspath(path)})" if "://" not in path else ""))
    return 0


def _cmd_plan(args) -> int:
    from dataclasses import asdict

    from w2s.config import load_config
    from w2s.plan import Cluster, Prices, format_plan, load_costs, plan

    cfg = load_config(args.config, args.set)
    cluster = Cluster(videos=args.videos, gpus=args.gpus, cpus=args.cpus, video_seconds=args.video_seconds,
                      video_height=args.video_height, benchmark_videos=args.benchmark_videos)
    prices = Prices(gpu_hour=args.gpu_hour_usd, cpu_hour=args.cpu_hour_usd,
                    storage_gb_month=args.storage_gb_month_usd, date=args.prices_date)
    rows, totals = plan(cfg, cluster, load_costs(gpu_file=args.gpu_costs), prices)
    if args.json:
        print(json.dumps({"cluster": asdict(cluster), "stages": [r.to_dict() for r in rows], "totals": totals}, indent=1))
    else:
        print(format_plan(rows, totals, cluster))
    return 0


def _add_plan(sub) -> None:
    from w2s.plan import Prices

    d = Prices()
    s = sub.add_parser("plan", help="per stage: work, time, dollars, storage and actor counts at scale",
                       description="The scale planner: per stage of the config's run, the work, CPU/GPU-hours, "
                       "wall time on the cluster given, dollar cost, storage and the actor counts to set, from "
                       "the per-item costs bench/ measured (bench/results/unit_costs.json) and GPU rates "
                       "(bench/results/teachers_gpu.json when a GPU run wrote it, else stated assumptions).")
    s.add_argument("--videos", type=int, required=True, help="pool size, e.g. 1500000")
    s.add_argument("--gpus", type=int, required=True, help="GPUs the stages may use")
    s.add_argument("--cpus", type=int, required=True, help="CPU cores of the CPU workers")
    s.add_argument("--config", default="configs/paper.yaml", help="the run's recipe (default configs/paper.yaml)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    s.add_argument("--video-seconds", type=float, default=8.0, help="mean video length (default 8)")
    s.add_argument("--video-height", type=int, default=720, help="mean short side in pixels (default 720)")
    s.add_argument("--benchmark-videos", type=int, default=20_000, help="videos `evaluate` scores (default "
                   "20000, about the paper's ten benchmarks)")
    s.add_argument("--gpu-hour-usd", type=float, default=d.gpu_hour, help=f"per GPU-hour (default {d.gpu_hour}: "
                   "AWS p4de.24xlarge on-demand / 8)")
    s.add_argument("--cpu-hour-usd", type=float, default=d.cpu_hour, help=f"per vCPU-hour (default {d.cpu_hour}: "
                   "AWS c6i.8xlarge on-demand / 32)")
    s.add_argument("--storage-gb-month-usd", type=float, default=d.storage_gb_month, help="object storage "
                   f"(default {d.storage_gb_month}: S3 Standard)")
    s.add_argument("--prices-date", default=d.date, help=f"when the prices were read (default {d.date!r})")
    s.add_argument("--gpu-costs", default=None, help="GPU measurement file (default bench/results/teachers_gpu.json "
                   "when present)")
    s.add_argument("--json", action="store_true", help="the plan as JSON")
    s.set_defaults(fn=_cmd_plan)


def build_parser(extra_commands=None) -> argparse.ArgumentParser:
    from w2s import __version__
    from w2s.video import BACKENDS
    from w2s.video.distort import KINDS

    p = argparse.ArgumentParser(prog="w2s", description="Weak-to-strong video quality assessment.")
    p.add_argument("--version", action="version", version=f"w2s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("probe", help="width, height, fps, frames, duration, codec, rotation")
    s.add_argument("video")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=_cmd_probe)

    s = sub.add_parser("distort", help="render one level of a synthetic distortion")
    s.add_argument("input")
    s.add_argument("output", help="output .mp4 path")
    s.add_argument("--kind", required=True, choices=KINDS)
    s.add_argument("--level", required=True, type=int, help="1 = mildest")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--preset", default=None, help="encoder preset override (h264/h265 only)")
    s.set_defaults(fn=_cmd_distort)

    s = sub.add_parser("metrics", help="the nine low-level metrics at 1 fps")
    s.add_argument("videos", nargs="*", metavar="VIDEO")
    s.add_argument("--manifest", help="a Parquet manifest with a `uri` column")
    s.add_argument("--json", action="store_true", help="print JSON (one object for one video)")
    s.add_argument("--out", help="write the table to this Parquet file (many videos)")
    s.add_argument("--workers", type=int, default=None, help="processes (default: all CPUs)")
    s.add_argument("--backend", choices=BACKENDS, default="pyav")
    s.set_defaults(fn=_cmd_metrics)

    s = sub.add_parser("sample-pool", help="build the sample pool of real clips + manifest")
    s.add_argument("--n", type=int, default=64, help="number of clips")
    s.add_argument("--out", required=True, help="output directory")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=None)
    s.set_defaults(fn=_cmd_sample_pool)
    s = sub.add_parser("score", help="0-100 quality scores: with a checkpoint here, or a running service")
    s.add_argument("videos", nargs="+", metavar="VIDEO")
    s.add_argument("--model", help="exported student directory with anchors.json (runs here, no Ray)")
    s.add_argument("--url", help="the scoring service, e.g. http://127.0.0.1:8000")
    s.add_argument("--by-uri", action="store_true", help="with --url: send the path, not the file (the "
                                                        "server must allow its folder)")
    s.add_argument("--api-key-env", default="W2S_API_KEY", help="env var holding the service's API key")
    s.add_argument("--json", action="store_true", help="one JSON object per video")
    s.set_defaults(fn=_cmd_score)

    s = sub.add_parser("report", help="the run report: RUN_DIR/report/index.html (self-contained, opens from disk)")
    s.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (local path or URI)")
    s.add_argument("--out", default=None, help="folder for index.html and its PNGs (default RUN_DIR/report)")
    s.set_defaults(fn=_cmd_report)
    _add_plan(sub)
    if extra_commands is not None:
        extra_commands(sub)
    return p


def main(argv: list[str] | None = None, extra_commands=None) -> int:
    """Run the `w2s` command; `extra_commands(subparsers)` may add commands (see ray_jobs.cli)."""
    args = build_parser(extra_commands).parse_args(argv)
    from w2s.video import VideoDecodeError

    try:
        return args.fn(args)
    except (VideoDecodeError, ValueError, FileNotFoundError) as e:
        print(f"w2s {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
