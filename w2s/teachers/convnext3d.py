"""ConvNeXt-3D tiny, DOVER's aesthetic backbone ("conv_tiny"), written here. Names follow the
official `ConvNeXt3D` (VQAssessment/DOVER, dover/models/conv_backbone.py) so DOVER.pth loads
with `strict=True`: downsample_layers.{0..3}, stages.{i}.{j}.{dwconv, norm, pwconv1, pwconv2,
gamma}, norm. The 2-D ConvNeXt-T inflated: stem Conv3d (2, 4, 4) / (2, 4, 4), downsampling
Conv3d (1, 2, 2), depthwise kernels (k, 7, 7) with k cycling through the inflate strategy
"131" inside every stage. `forward` returns the normed spatio-temporal map (B, 768, T', H', W').
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DEPTHS = (3, 3, 9, 3)
DIMS = (96, 192, 384, 768)


class LayerNorm(nn.Module):
    """LayerNorm over channels, channels-last input or (channels_first) (B, C, ...)."""

    def __init__(self, dim: int, eps: float = 1e-6, channels_first: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps, self.channels_first = eps, channels_first

    def forward(self, x):
        if not self.channels_first:
            return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        shape = (-1,) + (1,) * (x.dim() - 2)
        return self.weight.view(shape) * x + self.bias.view(shape)


class Block3D(nn.Module):
    def __init__(self, dim: int, inflate_len: int, layer_scale: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv3d(dim, dim, kernel_size=(inflate_len, 7, 7), padding=(inflate_len // 2, 3, 3),
                                groups=dim)
        self.norm = LayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 4, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 4, 1, 2, 3)


class ConvNeXt3D(nn.Module):
    def __init__(self, depths=DEPTHS, dims=DIMS, inflate_strategy: str = "131"):
        super().__init__()
        stem = nn.Sequential(nn.Conv3d(3, dims[0], kernel_size=(2, 4, 4), stride=(2, 4, 4)),
                             LayerNorm(dims[0], channels_first=True))
        self.downsample_layers = nn.ModuleList([stem])
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                LayerNorm(dims[i], channels_first=True),
                nn.Conv3d(dims[i], dims[i + 1], kernel_size=(1, 2, 2), stride=(1, 2, 2))))
        self.stages = nn.ModuleList(
            nn.Sequential(*[Block3D(dims[i], int(inflate_strategy[j % len(inflate_strategy)]))
                            for j in range(depths[i])]) for i in range(4))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.apply(_init)

    def forward(self, x):
        for down, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(down(x))
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv3d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(m.bias)
