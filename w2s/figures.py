"""Matplotlib without a display, and figures saved to any path or URI."""

from __future__ import annotations

import io

from w2s import uri


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, dest: str, dpi: int = 90) -> str:
    """Write `fig` as PNG to a local path or URI and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    return uri.write_bytes(dest, buf.getvalue())
