"""`w2s serve`: the scoring service on this machine, in the foreground (Ctrl-C stops it)."""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(settings: dict, host: str = "127.0.0.1", port: int = 8000, num_cpus: int | None = None,
          name: str = "w2s"):
    """Start a local Ray (unless connected), Serve's proxy on host:port, and the application."""
    import ray
    from ray import serve

    from serve.app import REPLICA_ENV, build_app

    if not ray.is_initialized():
        env = {**REPLICA_ENV, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        for key in (settings.get("api_key_env") or "W2S_API_KEY",):
            if key in os.environ:
                env[key] = os.environ[key]
        ray.init(address=os.environ.get("RAY_ADDRESS") or "local", num_cpus=num_cpus,
                 runtime_env={"env_vars": env}, log_to_driver=False)
    serve.start(http_options={"host": host, "port": port})
    return serve.run(build_app(settings), name=name, route_prefix="/")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="w2s serve", description=__doc__)
    p.add_argument("--model", required=True, help="exported student directory with anchors.json")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every interface")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--allow", action="append", default=[], metavar="DIR",
                   help="a folder whose files may be scored by URI (repeatable)")
    p.add_argument("--max-upload-mb", type=float, default=200.0)
    p.add_argument("--upload-timeout-s", type=float, default=120.0,
                   help="408 for a request body still arriving after this many seconds")
    p.add_argument("--max-batch-size", type=int, default=8)
    args = p.parse_args(argv)
    settings = {"model_dir": os.path.abspath(args.model) if os.path.exists(args.model) else args.model,
                "allowed_roots": [os.path.abspath(d) for d in args.allow],
                "max_upload_mb": args.max_upload_mb, "upload_timeout_s": args.upload_timeout_s,
                "max_batch_size": args.max_batch_size}
    import time

    start(settings, args.host, args.port)
    print(f"w2s serve: {settings['model_dir']} at http://{args.host}:{args.port} (docs: /docs); Ctrl-C stops",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        from ray import serve

        serve.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
