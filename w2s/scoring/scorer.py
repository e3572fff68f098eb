"""The student as a scorer: a 0-100 quality score per video (METHOD.md section 4).

    scorer = Scorer.from_pretrained("runs/demo/run/student/stage1")   # needs anchors.json
    [s.score for s in scorer.score(["a.mp4", "b.mp4"])]
    scorer.compare("a.mp4", "b.mp4")        # {level: probability}, second relative to first

Per test video: its key frames go through the vision tower once and its motion chunks
through SlowFast once; those tokens are reused against all five anchors. The prompt puts
the anchor first, so the language model's key/value cache of everything up to the end
of an anchor's tokens is computed once per anchor at load, and a comparison runs only
the test video's tokens and the question (`cache_prefix=False`: full prompts, the
reference path). c = sum_k softmax(logits / 5)_k w_k per anchor; the 6 x 6 matrix
(anchor block stored in anchors.json) goes through the batched MAP (mapping.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from w2s.conversation import LEVEL_WEIGHTS, LEVELS
from w2s.scoring.anchors import AnchorSet
from w2s.scoring.inputs import VideoInputs, decode
from w2s.scoring.mapping import map_scores
from w2s.student.tokens import PairEncoder

WEIGHTS = np.array([LEVEL_WEIGHTS[k] for k in LEVELS])  # LEVELS order: superior .. inferior


def soft_comparison(probs: np.ndarray) -> np.ndarray:
    """c = sum_k p_k w_k over the five level probabilities (..., 5) in LEVELS order."""
    return np.asarray(probs, np.float64) @ WEIGHTS


def test_matrices(anchor_block: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(B, n+1, n+1): the anchor block plus, per test video, M[test, a] = c_a, M[a, test] = 1 - c_a."""
    b, n = c.shape
    m = np.empty((b, n + 1, n + 1))
    m[:, :n, :n] = anchor_block
    m[:, n, :n], m[:, :n, n], m[:, n, n] = c, 1.0 - c, 0.5
    return m


def load_student(ckpt_dir: str, device: str | None = None):
    """(model, tokenizer, image processor) of an exported student (local path or URI);
    bf16 on GPU, fp32 on CPU."""
    from w2s.student.presets import image_processor, load_exported

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, tok = load_exported(ckpt_dir, dtype=torch.bfloat16 if dev.type == "cuda" else torch.float32)
    return model.to(dev), tok, image_processor(model)


@dataclass
class Score:
    uri: str
    score: float                      # 0..100
    c: list[float]                    # soft comparison against each anchor (anchor first)
    timings: dict = field(default_factory=dict)  # seconds, this video's share of its batch


@dataclass
class Features:
    """A video's tokens for the language model: key frames (F*196+1, h) and motion (K, h)."""
    frames: torch.Tensor
    motion: torch.Tensor

    @property
    def counts(self) -> list[int]:
        return [len(self.frames), len(self.motion)]


class Scorer:
    def __init__(self, model, tokenizer, processor, anchors: AnchorSet, motion_extractor=None,
                 cache_prefix: bool = True):
        self.model, self.proc, self.anchors = model.eval(), processor, anchors
        self.encoder = PairEncoder(tokenizer, model.config.image_token_id)
        self.extractor, self.cache_prefix = motion_extractor, cache_prefix
        self.device = next(model.parameters()).device
        self.counters: Counter = Counter()
        self.anchor_block = np.asarray(anchors.matrix, np.float64)
        self.anchor_feats = self.features_batch(anchors.inputs) if anchors.inputs else []
        self.prefixes = [self._prefix_cache(f) for f in self.anchor_feats] if cache_prefix else None

    @classmethod
    def from_pretrained(cls, ckpt_dir: str, device: str | None = None, cache_prefix: bool = True,
                        motion_checkpoint: str | None = None, with_anchors: bool = True) -> Scorer:
        """Load a checkpoint directory holding anchors.json (local path or URI). The SlowFast
        weights are the ones the anchors were computed with unless `motion_checkpoint` is given.
        `with_anchors=False`: only `compare` / `compare_batch` (the anchors' videos are not run)."""
        from w2s.student.motion import MotionExtractor

        anchors = AnchorSet.load(ckpt_dir, with_inputs=with_anchors)
        model, tok, proc = load_student(ckpt_dir, device)
        motion = MotionExtractor(motion_checkpoint or anchors.motion_checkpoint,
                                 size=anchors.sampling.motion_size, device=str(model.device))
        return cls(model, tok, proc, anchors, motion, cache_prefix=cache_prefix)

    @property
    def name(self) -> str:
        return self.anchors.source.get("checkpoint", "")

    # -- per video: decode, then one vision + motion pass ----------------------------------------
    def prepare(self, video: str | VideoInputs) -> VideoInputs:
        return video if isinstance(video, VideoInputs) else decode(video, self.anchors.sampling)

    @torch.no_grad()
    def features(self, x: VideoInputs) -> Features:
        return self.features_batch([x])[0]

    @torch.no_grad()
    def features_batch(self, inputs: list[VideoInputs]) -> list[Features]:
        """Each video's frames through the vision tower once and its chunks through SlowFast once;
        videos with the same number of key frames share one tower call, all chunks one SlowFast run."""
        need = [x for x in inputs if x.motion is None]
        if need and self.extractor is None:
            raise ValueError(f"{need[0].uri}: no motion features and no motion extractor")
        motion = {}
        if need:
            flat = self.extractor.features_from_chunks(np.concatenate([x.chunks for x in need]))
            ends = np.cumsum([len(x.chunks) for x in need])
            motion = {id(x): m for x, m in zip(need, np.split(flat, ends[:-1]), strict=True)}
        frames: list = [None] * len(inputs)
        by_len: dict[int, list[int]] = {}
        for i, x in enumerate(inputs):
            by_len.setdefault(len(x.frames), []).append(i)
        for idx in by_len.values():
            images = [f for i in idx for f in inputs[i].frames]
            pix = self.proc(images=images, return_tensors="pt")["pixel_values"].to(self.device)
            tokens = self.model.keyframe_tokens_batch(pix.reshape(len(idx), -1, *pix.shape[1:]))
            for j, i in enumerate(idx):
                frames[i] = tokens[j]
        self.counters["vision_passes"] += len(inputs)
        return [Features(f, self.model.motion_tokens(torch.from_numpy(
            x.motion if x.motion is not None else motion[id(x)]))) for f, x in zip(frames, inputs, strict=True)]

    # -- the language model --------------------------------------------------------------------
    def _embed_rows(self, rows: list[list[int]], feats: list[list[torch.Tensor]]):
        """Right-padded ids -> embeddings with features scattered in, and the mask."""
        n = max(len(r) for r in rows)
        ids = torch.full((len(rows), n), self.encoder.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        self.counters["llm_tokens"] += int(mask.sum())
        return self.model.embed(ids, [t for f in feats for t in f]), mask

    @torch.no_grad()
    def _prefix_cache(self, anchor: Features) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]]]:
        prefix, _ = self.encoder.split(anchor.counts + anchor.counts)
        embeds, mask = self._embed_rows([prefix], [[anchor.frames, anchor.motion]])
        out = self.model.model.language_model(inputs_embeds=embeds, attention_mask=mask, use_cache=True)
        return len(prefix), [(layer.keys, layer.values) for layer in out.past_key_values.layers]

    @torch.no_grad()
    def _vs_anchor(self, k: int, tests: list[Features], temperature: float) -> torch.Tensor:
        """(B, 5) level probabilities of each test video (second) against anchor k (first)."""
        from transformers import DynamicCache

        a = self.anchor_feats[k]
        if self.prefixes is None:
            return self.feature_pairs([(a, t) for t in tests], temperature)
        plen, kv = self.prefixes[k]
        rests = [self.encoder.split(a.counts + t.counts)[1] for t in tests]
        embeds, mask = self._embed_rows([r.ids for r in rests], [[t.frames, t.motion] for t in tests])
        b = len(tests)
        cache = DynamicCache([(kk.expand(b, -1, -1, -1), vv.expand(b, -1, -1, -1)) for kk, vv in kv])
        full_mask = torch.cat([torch.ones((b, plen), dtype=mask.dtype, device=self.device), mask], dim=1)
        pos = torch.tensor([r.answer_pos for r in rests], device=self.device)
        logits = self.model.answer_logits(embeds, full_mask, pos, past_key_values=cache)
        return self.model.level_probabilities(logits, temperature=temperature)

    @torch.no_grad()
    def feature_pairs(self, pairs: list[tuple[Features, Features]], temperature: float) -> torch.Tensor:
        """(N, 5) level probabilities of full prompts (no cache)."""
        items = [self.encoder.encode(f.counts + s.counts, None) for f, s in pairs]
        embeds, mask = self._embed_rows([e.ids for e in items], [[f.frames, f.motion, s.frames, s.motion]
                                                                  for f, s in pairs])
        pos = torch.tensor([e.answer_pos for e in items], device=self.device)
        return self.model.level_probabilities(self.model.answer_logits(embeds, mask, pos), temperature=temperature)

    # -- public API ------------------------------------------------------------------------------
    def score(self, videos: Sequence[str | VideoInputs]) -> list[Score]:
        """0..100 scores of a batch of videos (URIs/paths or decoded inputs)."""
        t0 = time.perf_counter()
        inputs = [self.prepare(v) for v in videos]
        return self.score_inputs(inputs, decode_s=time.perf_counter() - t0)

    def score_inputs(self, inputs: list[VideoInputs], decode_s: float = 0.0) -> list[Score]:
        if not inputs:
            return []
        t0 = time.perf_counter()
        feats = self.features_batch(inputs)
        t1 = time.perf_counter()
        t = self.anchors.temperature_test
        c = np.stack([soft_comparison(self._vs_anchor(k, feats, t).cpu().numpy())
                      for k in range(len(self.anchor_feats))], axis=1)  # (B, n)
        t2 = time.perf_counter()
        n = c.shape[1]
        scores = map_scores(test_matrices(self.anchor_block, c), link=self.anchors.link)[:, n]
        t3 = time.perf_counter()
        self.counters["videos"] += len(inputs)
        share = {"decode_s": decode_s, "features_s": t1 - t0, "llm_s": t2 - t1, "map_s": t3 - t2}
        share = {k: round(v / len(inputs), 6) for k, v in share.items()}
        return [Score(x.uri, float(s), [float(v) for v in row], dict(share))
                for x, s, row in zip(inputs, scores, c, strict=True)]

    def compare_batch(self, pairs: Sequence[tuple[str | VideoInputs, str | VideoInputs]],
                      temperature: float = 1.0) -> np.ndarray:
        """(N, 5) level probabilities (second relative to first, LEVELS order); each distinct
        video is decoded once, and all of them go through the vision tower and SlowFast together."""
        if not pairs:
            return np.zeros((0, len(LEVELS)))

        def key(v):
            return v if isinstance(v, str) else v.uri

        videos: dict = {}  # uri -> the video: one decode and one vision / SlowFast pass each
        for v in (v for pair in pairs for v in pair):
            videos.setdefault(key(v), v)
        feats = dict(zip(videos, self.features_batch([self.prepare(v) for v in videos.values()]), strict=True))
        pf = [(feats[key(a)], feats[key(b)]) for a, b in pairs]
        return self.feature_pairs(pf, temperature).cpu().numpy()

    def compare(self, first: str | VideoInputs, second: str | VideoInputs,
                temperature: float = 1.0) -> dict[str, float]:
        p = self.compare_batch([(first, second)], temperature)[0]
        return dict(zip(LEVELS, map(float, p), strict=True))
