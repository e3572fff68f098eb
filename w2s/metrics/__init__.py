"""Low-level video metrics (METHOD.md section 1) and evaluation correlations."""

from w2s.metrics.correlation import correlations, fit_logistic, logistic4
from w2s.metrics.video import METRIC_NAMES, frame_metrics, video_metrics

__all__ = ["METRIC_NAMES", "correlations", "fit_logistic", "frame_metrics", "logistic4", "video_metrics"]
