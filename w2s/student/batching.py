"""Featurized pair rows (as Ray Data's numpy batches) -> the student's inputs: token
ids with the image slots expanded, labels on the answer, the normalised frames."""

from __future__ import annotations

import numpy as np
import torch

from w2s.conversation import LEVELS
from w2s.student.augment import draw
from w2s.student.examples import SIDES, video_inputs
from w2s.student.motion import FEATURE_DIM
from w2s.student.tokens import PairEncoder


class PairBatcher:
    """`augment`: a numpy Generator; each pair then gets one random crop + flip for both videos."""

    def __init__(self, model, tokenizer, processor, augment: np.random.Generator | None = None):
        self.model, self.proc, self.rng = model, processor, augment
        self.encoder = PairEncoder(tokenizer, model.config.image_token_id)
        self.size = model.config.vision_config.image_size

    def _video(self, batch: dict, side: str, i: int, crop=None) -> dict[str, torch.Tensor]:
        nf, nc = int(batch[f"{side}_num_frames"][i]), int(batch[f"{side}_num_chunks"][i])
        frames = np.frombuffer(batch[f"{side}_frames"][i], np.uint8).reshape(nf, self.size, self.size, 3)
        motion = np.frombuffer(batch[f"{side}_motion"][i], np.float32).reshape(nc, FEATURE_DIM)
        return video_inputs(crop.apply(frames) if crop else frames, motion, self.proc)

    def __call__(self, batch: dict, with_labels: bool = True) -> dict:
        items, videos = [], []
        for i in range(len(batch["first_uri"])):
            crop = draw(self.rng, self.size) if self.rng is not None else None
            pair = [self._video(batch, s, i, crop) for s in SIDES]
            counts = []
            for v in pair:
                counts += list(self.model.num_video_tokens(len(v["frames"]), len(v["motion"])))
            items.append(self.encoder.encode(counts, str(batch["label"][i]) if with_labels else None))
            videos.append(pair)
        out = self.encoder.collate(items)
        out["videos"] = videos
        out["target"] = torch.tensor([LEVELS.index(str(x)) for x in batch["label"]]) if with_labels else None
        return out
