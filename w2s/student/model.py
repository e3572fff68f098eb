"""The pair student: LLaVA-OneVision + a motion projector (METHOD.md section 3).

`W2SStudent` subclasses transformers' `LlavaOnevisionForConditionalGeneration`,
so `save_pretrained` / `from_pretrained` carry the motion projector and the
label-token ids (in the config). Per video, key frames (one per second) go
through the SigLIP tower, the LLaVA projector and LLaVA-OV's 2x2 video pooling
(14x14 = 196 tokens per 384-px frame, plus the newline token); the cached
SlowFast features (one 256-d row per second) go through the motion projector
`Linear(256, hidden) GELU Linear(hidden, hidden)`. The prompt's four `<image>`
slots (first video: frames, motion; second video: frames, motion) are expanded
to those token counts, computed here, not by a processor.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

from w2s.conversation import LEVELS


class W2SStudentConfig(LlavaOnevisionConfig):
    model_type = "w2s_student"

    def __init__(self, motion_dim: int = 256, level_token_ids: list[int] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.motion_dim = motion_dim
        self.level_token_ids = list(level_token_ids or [])


AutoConfig.register("w2s_student", W2SStudentConfig, exist_ok=True)


class W2SStudent(LlavaOnevisionForConditionalGeneration):
    config_class = W2SStudentConfig

    def __init__(self, config: W2SStudentConfig):
        super().__init__(config)
        h = config.text_config.hidden_size
        self.motion_projector = nn.Sequential(nn.Linear(config.motion_dim, h), nn.GELU(), nn.Linear(h, h))

    # -- token features ------------------------------------------------------------------
    @property
    def frame_tokens(self) -> int:
        """Tokens per key frame after LLaVA-OV's 2x2 bilinear pooling (196 at 384 px)."""
        side = self.config.vision_config.image_size // self.config.vision_config.patch_size
        return (-(-side // 2)) ** 2

    def keyframe_tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """(F, 3, S, S) normalised frames of one video -> (F * frame_tokens + 1, hidden)."""
        return self.keyframe_tokens_batch(frames.unsqueeze(0))[0]

    def keyframe_tokens_batch(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, F, 3, S, S): B videos of F frames each in one tower pass -> (B, F * frame_tokens + 1, hidden)."""
        dtype = self.model.vision_tower.dtype if hasattr(self.model.vision_tower, "dtype") else frames.dtype
        out = self.model.get_video_features(
            pixel_values_videos=frames.to(dtype),
            vision_feature_layer=self.config.vision_feature_layer,
            vision_feature_select_strategy=self.config.vision_feature_select_strategy,
        )
        return out.pooler_output

    def motion_tokens(self, motion: torch.Tensor) -> torch.Tensor:
        """(K, 256) SlowFast features -> (K, hidden)."""
        w = self.motion_projector[0].weight
        return self.motion_projector(motion.to(device=w.device, dtype=w.dtype))

    def num_video_tokens(self, num_frames: int, num_chunks: int) -> tuple[int, int]:
        return num_frames * self.frame_tokens + 1, num_chunks

    # -- forward on prepared pairs -------------------------------------------------------
    def embed(self, input_ids: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """Token embeddings with the image-token runs replaced by `feats` (in prompt order)."""
        embeds = self.get_input_embeddings()(input_ids)
        feats = torch.cat(feats).to(embeds.dtype)
        mask = (input_ids == self.config.image_token_id).unsqueeze(-1).expand_as(embeds)
        if int(mask[..., 0].sum()) != feats.shape[0]:
            raise ValueError(f"prompt has {int(mask[..., 0].sum())} image tokens, features give {feats.shape[0]}")
        return embeds.masked_scatter(mask, feats)

    def forward_pairs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      videos: list[list[dict]]) -> torch.Tensor:
        """Logits (B, L, V). `input_ids` already hold, per sample, the expanded image-token
        runs in prompt order; `videos[b]` = [first, second] dicts with `frames`, `motion`."""
        dev = input_ids.device
        feats = []
        for pair in videos:
            for v in pair:
                feats.append(self.keyframe_tokens(v["frames"].to(dev)))
                feats.append(self.motion_tokens(v["motion"]))
        embeds = self.embed(input_ids, feats)
        return super().forward(inputs_embeds=embeds, attention_mask=attention_mask).logits

    def answer_logits(self, embeds: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor,
                      past_key_values=None) -> torch.Tensor:
        """(B, V) next-token logits at `positions` (indices into `embeds`), optionally after a
        key/value cache of a shared prefix (`attention_mask` then covers prefix + embeds)."""
        out = self.model.language_model(inputs_embeds=embeds, attention_mask=attention_mask,
                                        past_key_values=past_key_values, use_cache=past_key_values is not None)
        h = out.last_hidden_state[torch.arange(len(positions), device=embeds.device), positions]
        return self.lm_head(h)

    @torch.no_grad()
    def level_probabilities(self, logits: torch.Tensor, positions: torch.Tensor | None = None,
                            temperature: float = 1.0) -> torch.Tensor:
        """Softmax (at `temperature`) over the five level words -> (B, 5), in the order of
        w2s.conversation.LEVELS. `logits`: (B, L, V) with `positions` (B,), or (B, V)."""
        if positions is not None:
            logits = logits[torch.arange(len(positions), device=logits.device), positions]
        ids = torch.tensor(self.config.level_token_ids, device=logits.device)
        return torch.softmax(logits[:, ids].float() / temperature, dim=-1)


def check_levels(config: W2SStudentConfig) -> None:
    if len(config.level_token_ids) != len(LEVELS) or len(set(config.level_token_ids)) != len(LEVELS):
        raise ValueError("config.level_token_ids must hold one distinct token id per level")
