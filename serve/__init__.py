"""The Ray Serve scoring service (app.py), its request checks (checks.py) and the local
runner behind `w2s serve` (local.py)."""
