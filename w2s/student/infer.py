"""Reading the student: the five level probabilities of a pair (what scoring and mining use).

    scorer = PairScorer.from_pretrained("runs/demo/run/student/stage1", motion=RunDir(run_dir).read_motion())
    p = scorer.pair_probabilities(first_uri, second_uri)      # (5,) in w2s.conversation.LEVELS order

A video is a URI (key frames decoded here; motion looked up in `motion`, a
uri -> (K, 256) mapping such as the cache_motion output, else computed with
`motion_extractor`) or a ready dict {'frames': uint8 (F, S, S, 3), 'motion': (K, 256)}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from w2s.conversation import LEVELS
from w2s.student.examples import keyframes, motion_rows, video_inputs
from w2s.student.tokens import PairEncoder

Video = str | Mapping


class PairScorer:
    def __init__(self, model, tokenizer, processor, motion: Mapping | None = None,
                 motion_extractor=None, max_frames: int = 16, frame_sampling: str = "first"):
        self.model = model.eval()
        self.encoder = PairEncoder(tokenizer, model.config.image_token_id)
        self.proc, self.motion, self.extractor = processor, motion or {}, motion_extractor
        self.max_frames, self.sampling = max_frames, frame_sampling
        self.size = model.config.vision_config.image_size

    @classmethod
    def from_pretrained(cls, path: str, **kwargs) -> PairScorer:
        from transformers import AutoTokenizer

        from w2s.student.model import W2SStudent
        from w2s.student.presets import image_processor

        model = W2SStudent.from_pretrained(path)
        return cls(model, AutoTokenizer.from_pretrained(path), image_processor(model), **kwargs)

    def _inputs(self, video: Video) -> dict[str, torch.Tensor]:
        if isinstance(video, Mapping):
            frames, motion = np.asarray(video["frames"]), np.asarray(video["motion"], np.float32)
        else:
            frames = keyframes(video, self.size, self.max_frames, self.sampling)
            if video in self.motion:
                motion = self.motion[video]
            elif self.extractor is not None:
                motion = self.extractor.features(video)
            else:
                raise KeyError(f"no motion features for {video} (pass motion= or motion_extractor=)")
        return video_inputs(frames, motion_rows(motion, self.max_frames, self.sampling), self.proc)

    @torch.no_grad()
    def pair_probabilities_batch(self, pairs: Sequence[tuple[Video, Video]],
                                 temperature: float = 1.0) -> torch.Tensor:
        """(N, 5) level probabilities (second relative to first), LEVELS order."""
        items, videos = [], []
        for first, second in pairs:
            pair = [self._inputs(first), self._inputs(second)]
            counts = []
            for v in pair:
                counts += list(self.model.num_video_tokens(len(v["frames"]), len(v["motion"])))
            items.append(self.encoder.encode(counts, None))
            videos.append(pair)
        x = self.encoder.collate(items)
        logits = self.model.forward_pairs(x["input_ids"], x["attention_mask"], videos)
        return self.model.level_probabilities(logits, x["answer_pos"], temperature)

    def pair_probabilities(self, first: Video, second: Video, temperature: float = 1.0) -> dict[str, float]:
        p = self.pair_probabilities_batch([(first, second)], temperature)[0]
        return dict(zip(LEVELS, p.tolist(), strict=True))
