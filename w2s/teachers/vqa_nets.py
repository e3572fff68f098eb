"""The official FAST-VQA / FasterVQA and DOVER networks, assembled from the backbones here.
Attribute names are the official ones, so the released files load with strict=True:
- `FastVQANet` (DiViDeAddEvaluator with backbone_preserve_keys=fragments, one head):
  fragments_backbone (Swin-T-3D, GRPB), vqa_head.
- `DOVERNet` (DOVER with divide_head): technical_backbone (Swin-T-3D, GRPB), aesthetic_backbone
  (ConvNeXt-3D tiny), technical_head, aesthetic_head.
A head maps the (B, 768, T', H', W') feature map to a (B, 1, T', H', W') quality map; the
video's raw score is the mean of that map over its clips and positions.
"""

from __future__ import annotations

import torch
from torch import nn

from w2s.teachers.convnext3d import ConvNeXt3D
from w2s.teachers.swin3d import SwinTransformer3D


class VQAHead(nn.Module):
    """1x1x1 conv 768 -> 64, GELU, 1x1x1 conv 64 -> 1 (dropout 0.5 before each, off in eval)."""

    def __init__(self, in_channels: int = 768, hidden_channels: int = 64, dropout: float = 0.5):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc_hid = nn.Conv3d(in_channels, hidden_channels, (1, 1, 1))
        self.fc_last = nn.Conv3d(hidden_channels, 1, (1, 1, 1))
        self.gelu = nn.GELU()

    def forward(self, x):
        return self.fc_last(self.dropout(self.gelu(self.fc_hid(self.dropout(x)))))


def fast_vqa_backbone(variant: str = "grpb") -> SwinTransformer3D:
    """`grpb`: FAST-VQA-B / FasterVQA (window 8x7x7, fragment biases in stages 1-3, adaptive
    windows); `dover`: the same with DOVER's fixed windows; `m`: FAST-VQA-M (window 4x4x4, no
    fragment biases)."""
    if variant == "m":
        return SwinTransformer3D(window_size=(4, 4, 4), frag_biases=(False,) * 4)
    return SwinTransformer3D(adaptive_window=variant != "dover")


class FastVQANet(nn.Module):
    def __init__(self, variant: str = "grpb"):
        super().__init__()
        self.fragments_backbone = fast_vqa_backbone(variant)
        self.vqa_head = VQAHead()

    def forward(self, fragments: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) normalised fragments -> (B,) raw score (mean of the quality map)."""
        return self.vqa_head(self.fragments_backbone(fragments)).mean(dim=(1, 2, 3, 4))


class DOVERNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.technical_backbone = fast_vqa_backbone("dover")
        self.aesthetic_backbone = ConvNeXt3D()
        self.technical_head = VQAHead()
        self.aesthetic_head = VQAHead()

    def technical(self, fragments: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) normalised fragments -> (B,) raw technical score."""
        return self.technical_head(self.technical_backbone(fragments)).mean(dim=(1, 2, 3, 4))

    def aesthetic(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, S, S) normalised resized frames -> (B,) raw aesthetic score."""
        return self.aesthetic_head(self.aesthetic_backbone(frames)).mean(dim=(1, 2, 3, 4))

    def forward(self, technical: torch.Tensor, aesthetic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.technical(technical), self.aesthetic(aesthetic)


class MinimalisticVQANet(nn.Module):
    """MinimalisticVQA model VII (`temporal=False`) / IX (`temporal=True`), as
    sunwei925/MinimalisticVQA models/VQAModels.py: torchvision Swin-B (ImageNet-1k) with an
    identity head -> 1024-d per key frame [+ the 256-d SlowFast fast-pathway feature of that
    second] -> Linear(., 128) -> Linear(128, 1) (no activation between) -> mean over frames."""

    def __init__(self, temporal: bool = False):
        super().__init__()
        from w2s.teachers.swin2d import SwinB

        self.temporal = temporal
        self.feature_extraction = SwinB()
        self.quality = nn.Sequential(nn.Linear(1024 + (256 if temporal else 0), 128), nn.Linear(128, 1))

    def forward(self, frames: torch.Tensor, motion: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, 3, H, W) normalised key frames [, (B, T, 256) motion] -> (B,) raw score."""
        b, t = frames.shape[:2]
        x = self.feature_extraction(frames.reshape(b * t, *frames.shape[2:]))
        if self.temporal:
            x = torch.cat([x, motion.reshape(b * t, -1).to(x.dtype)], dim=1)
        return self.quality(x).view(b, t).mean(dim=1)
