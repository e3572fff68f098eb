"""The nine low-level video metrics (METHOD.md section 1). Evaluation correlations
(SRCC, PLCC, ...) live in `w2s.correlation`."""

from w2s.metrics.video import METRIC_NAMES, frame_metrics, video_metrics

__all__ = ["METRIC_NAMES", "frame_metrics", "video_metrics"]
