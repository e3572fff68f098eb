"""`make demo`'s last step: start the scoring service on this machine, score two clips of the
run over HTTP (the lowest- and the highest-scored by the `score` stage; one uploaded, one by
URI), print the answers next to the batch scores, and stop the service.

    python -m serve.demo --run-dir runs/demo/run [--checkpoint stage2] [--scores stage1] [--port 8000]

The service runs `--checkpoint` (default: the last stage's student that has anchors); the
two clips come from the pool scores of `--scores` (default: the newest scores there are).
"""

import argparse
import json
import os
import sys


def _last(run, path_of, most: int = 20) -> str:
    """The highest stage<N> whose file `path_of(name)` exists (stage1 when none does)."""
    from w2s import uri

    found = [n for n in range(1, most + 1) if uri.exists(path_of(f"stage{n}"))]
    return f"stage{found[-1] if found else 1}"


def main(argv: list[str] | None = None) -> int:
    import requests

    from w2s.rundir import RunDir, ok_rows, read_table

    p = argparse.ArgumentParser(prog="python -m serve.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--checkpoint", default=None, help="student name (default: the last stage with anchors)")
    p.add_argument("--scores", default=None, help="whose pool scores pick the clips (default: the newest)")
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args(argv)
    run = RunDir(args.run_dir)
    args.checkpoint = args.checkpoint or _last(run, lambda n: run.anchors(n))
    args.scores = args.scores or _last(run, lambda n: run.stage_record("score", n))
    scores = ok_rows(read_table(run.scores(args.scores))).sort_values("score")
    if len(scores) < 2:
        raise SystemExit(f"no scores under {run.scores(args.scores)}: run the `score` stage first")
    print(f"the service runs student {args.checkpoint}; clips picked by the pool scores of {args.scores}")
    low, high = scores.iloc[0], scores.iloc[-1]
    settings = {"model_dir": run.student(args.checkpoint),
                "allowed_roots": [os.path.dirname(high["uri"])], "max_batch_size": 4}
    from ray import serve

    from serve.local import start

    print(f"starting the scoring service at http://127.0.0.1:{args.port} ...", flush=True)
    start(settings, port=args.port, num_cpus=2)
    url = f"http://127.0.0.1:{args.port}"
    try:
        with open(low["uri"], "rb") as fh:
            up = requests.post(url + "/v1/score", files={"video": (os.path.basename(low["uri"]), fh)}, timeout=600)
        by_uri = requests.post(url + "/v1/score", json={"uri": high["uri"]}, timeout=600)
        cmp_ = requests.post(url + "/v1/compare", json={"first": low["uri"], "second": high["uri"]}, timeout=600)
        for what, row, r in (("upload", low, up), ("uri", high, by_uri)):
            body = r.json()
            print(f"POST /v1/score ({what}) {os.path.basename(row['uri'])}: HTTP {r.status_code}, "
                  f"score {body.get('score', float('nan')):.2f} (score stage, {args.scores}: {row['score']:.2f})")
        probs = cmp_.json().get("probabilities", {})
        print(f"POST /v1/compare {os.path.basename(low['uri'])} -> {os.path.basename(high['uri'])}: HTTP "
              f"{cmp_.status_code}, {json.dumps({k: round(v, 3) for k, v in probs.items()})}")
        bad = requests.post(url + "/v1/score", files={"video": ("notes.mp4", b"not a video")}, timeout=60)
        print(f"POST /v1/score (a text file) -> HTTP {bad.status_code}: {bad.json()['detail']}")
        ok = up.status_code == by_uri.status_code == cmp_.status_code == 200 and bad.status_code == 422
    finally:
        serve.shutdown()
        import ray

        ray.shutdown()
    print("service stopped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
