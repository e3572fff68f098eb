"""`python -m ray_jobs.pipeline --config FILE [--from STEP]`: the whole method, the same as
`python -m ray_jobs all` (ray_jobs/runner.py runs it; `--help` describes every step)."""

import sys

from ray_jobs.cli import main

if __name__ == "__main__":  # the same as `python -m ray_jobs all`
    sys.exit(main(sys.argv[1:], prog="python -m ray_jobs.pipeline", pipeline=True))
