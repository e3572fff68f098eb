"""Training curves: one row per optimizer step -> a PNG (loss, CE, confidence term,
lambda, learning rates, pair accuracy)."""

from __future__ import annotations

import pandas as pd


def plot_curves(history: pd.DataFrame, path: str, title: str = "student training") -> str:
    """Write the curves PNG to a local path or URI."""
    from w2s.figures import pyplot, save_png

    plt = pyplot()
    h = history.sort_values("step")
    x = h["step"]
    smooth = max(1, len(h) // 25)
    panels = [
        ("loss", ["loss", "ce"], "loss (total) and cross-entropy"),
        ("confidence", ["entropy"], "confidence term H (answer entropy)"),
        ("lambda", ["lam", "alpha", "temperature"], "lambda, alpha, temperature"),
        ("lr", [c for c in h.columns if c.startswith("lr_")], "learning rate per part"),
        ("accuracy", ["pair_acc"], f"pair direction accuracy (rolling {smooth})"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (_, cols, name) in zip(axes, panels, strict=True):
        for c in cols:
            if c in h:
                y = h[c].rolling(smooth, min_periods=1).mean() if c == "pair_acc" else h[c]
                ax.plot(x, y, label=c, lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)
