"""Scoring with the student (METHOD.md section 4), Ray-free: anchors, the soft comparison,
the batched MAP, and `Scorer` (0-100 scores, pair comparisons)."""

from w2s.scoring.mapping import map_scores

__all__ = ["map_scores", "Scorer", "Score"]


def __getattr__(name):  # torch / transformers only when the scorer is used
    if name in ("Scorer", "Score"):
        from w2s.scoring import scorer

        return getattr(scorer, name)
    raise AttributeError(name)
