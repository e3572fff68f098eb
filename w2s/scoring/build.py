"""Pick a checkpoint's anchors, compute their inputs and the anchor-vs-anchor matrix,
and store them in the checkpoint directory (anchors.json + anchors/*.npz)."""

from __future__ import annotations

import logging
from itertools import combinations

import pandas as pd

from w2s.scoring.anchors import Anchor, AnchorSet, anchor_file, anchor_matrix, candidates
from w2s.scoring.inputs import Sampling, VideoInputs, decode
from w2s.scoring.scorer import Scorer, load_student, soft_comparison
from w2s.video import VideoDecodeError

log = logging.getLogger(__name__)


def anchor_inputs(ranked: list[pd.DataFrame], sampling: Sampling, extractor) -> tuple[list, list, list]:
    """Per interval, the first candidate that decodes: (rows, inputs with motion, skipped)."""
    rows, inputs, skipped = [], [], []
    for cands in ranked:
        for r in cands.itertuples(index=False):
            try:
                x = decode(r.uri, sampling)
            except VideoDecodeError as e:
                skipped.append({"uri": r.uri, "reason": e.reason})
                continue
            x = VideoInputs(x.uri, x.frames, None, extractor.features_from_chunks(x.chunks))
            rows.append(r)
            inputs.append(x)
            break
        else:
            raise ValueError(f"no video of anchor interval {int(cands['interval'].iloc[0])} could be decoded "
                             f"({len(cands)} candidates)")
    return rows, inputs, skipped


def build_anchors(ckpt_dir: str, mu: pd.Series, *, max_frames: int, frame_sampling: str = "first",
                  motion_size: int = 224, num_anchors: int = 5,
                  link: str = "phi", temperature_test: float = 5.0, temperature_anchor: float = 1.0,
                  motion_checkpoint: str | None = None, teachers: list[str] = (), source: dict | None = None,
                  device: str | None = None) -> AnchorSet:
    """Choose the anchors from `mu` (uri -> ensemble teacher score of the training videos),
    compare every anchor pair with the student (t = temperature_anchor) and save the set.
    Key frames are sampled as in training (max_frames, frame_sampling) at the model's input size."""
    from w2s.student.motion import MotionExtractor

    ranked = candidates(mu, num_anchors)
    model, tok, proc = load_student(ckpt_dir, device)
    sampling = Sampling(model.config.vision_config.image_size, max_frames, frame_sampling, motion_size)
    extractor = MotionExtractor(motion_checkpoint, size=sampling.motion_size, device=str(model.device))
    rows, inputs, skipped = anchor_inputs(ranked, sampling, extractor)
    anchors = [Anchor(r.uri, float(r.mu), [float(r.lo), float(r.hi)], anchor_file(i)) for i, r in enumerate(rows)]
    aset = AnchorSet(anchors, [], sampling, temperature_test, temperature_anchor, link, motion_checkpoint,
                     extractor.random_init, list(teachers), dict(source or {}, skipped=skipped), inputs)
    aset.matrix = [[0.5] * len(anchors) for _ in anchors]
    scorer = Scorer(model, tok, proc, aset, extractor, cache_prefix=False)
    pairs = list(combinations(range(len(anchors)), 2))
    feats = scorer.anchor_feats
    probs = scorer.feature_pairs([(feats[i], feats[j]) for i, j in pairs], temperature_anchor).cpu().numpy()
    c = dict(zip(pairs, soft_comparison(probs), strict=True))
    aset.matrix = anchor_matrix(c, len(anchors)).tolist()
    aset.save(ckpt_dir)
    log.info("anchors of %s: %s", ckpt_dir, [a.uri for a in anchors])
    return aset
