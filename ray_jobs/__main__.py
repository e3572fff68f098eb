"""`python -m ray_jobs STAGE|all --config FILE [--set key=value ...] [--verbose]`."""

import sys

from ray_jobs.cli import main

sys.exit(main())
