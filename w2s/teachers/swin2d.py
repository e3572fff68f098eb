"""Swin-B (2-D) in torchvision's layout, written here because torchvision cannot be imported
with the CPU torch. MinimalisticVQA's spatial analyzer is `torchvision.models.swin_b` with an
identity head; names follow torchvision's SwinTransformer (pytorch/vision 0.13-0.29,
torchvision/models/swin_transformer.py) so the released files load with strict=True:

    features.0.{0: Conv2d 4x4/4, 2: LayerNorm}, features.{1,3,5,7}.{j}.{norm1, attn.{qkv, proj,
    relative_position_bias_table, relative_position_index}, norm2, mlp.{0, 3}},
    features.{2,4,6}.{reduction, norm}, norm

`forward(x)`: (B, 3, H, W) ImageNet-normalised -> (B, 1024): the last stage after its
LayerNorm, averaged over positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def relative_index(ws: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += ws - 1
    rel[:, :, 1] += ws - 1
    rel[:, :, 0] *= 2 * ws - 1
    return rel.sum(-1).flatten()


def _shift_mask(ph: int, pw: int, ws: int, shift: list[int], like: torch.Tensor) -> torch.Tensor:
    mask = like.new_zeros((ph, pw))
    count = 0
    for h in ((0, -ws), (-ws, -shift[0]), (-shift[0], None)):
        for w in ((0, -ws), (-ws, -shift[1]), (-shift[1], None)):
            mask[h[0]:h[1], w[0]:w[1]] = count
            count += 1
    mask = mask.view(ph // ws, ws, pw // ws, ws).permute(0, 2, 1, 3).reshape(-1, ws * ws)
    mask = mask.unsqueeze(1) - mask.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class ShiftedWindowAttention(nn.Module):
    def __init__(self, dim: int, ws: int, shift: int, num_heads: int):
        super().__init__()
        self.ws, self.shift, self.num_heads = ws, shift, num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_index(ws))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x):  # B, H, W, C
        b, h, w, c = x.shape
        ws = self.ws
        x = F.pad(x, (0, 0, 0, (ws - w % ws) % ws, 0, (ws - h % ws) % ws))
        _, ph, pw, _ = x.shape
        shift = [0 if ws >= ph else self.shift, 0 if ws >= pw else self.shift]
        if sum(shift):
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        nw = (ph // ws) * (pw // ws)
        x = x.view(b, ph // ws, ws, pw // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nw, ws * ws, c)
        q, k, v = self.qkv(x).reshape(x.size(0), x.size(1), 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * (c // self.num_heads) ** -0.5) @ k.transpose(-2, -1)
        n = ws * ws
        bias = self.relative_position_bias_table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if sum(shift):
            attn = attn.view(b, nw, self.num_heads, n, n) + _shift_mask(ph, pw, ws, shift, x).unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        x = self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(b * nw, n, c))
        x = x.view(b, ph // ws, pw // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if sum(shift):
            x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
        return x[:, :h, :w, :].contiguous()


class SwinBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, ws: int, shift: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = ShiftedWindowAttention(dim, ws, shift, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(4 * dim, dim),
                                 nn.Dropout(0.0))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=1e-5)

    def forward(self, x):  # B, H, W, C
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class Permute(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class SwinB(nn.Module):
    """torchvision swin_b: embed 128, depths (2, 2, 18, 2), heads (4, 8, 16, 32), window 7."""

    def __init__(self, embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), ws=7):
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, embed_dim, 4, 4), Permute(),
                                                 nn.LayerNorm(embed_dim, eps=1e-5))]
        for i, depth in enumerate(depths):
            dim = embed_dim * 2 ** i
            layers.append(nn.Sequential(*[SwinBlock(dim, num_heads[i], ws, 0 if j % 2 == 0 else ws // 2)
                                          for j in range(depth)]))
            if i < len(depths) - 1:
                layers.append(PatchMerging(dim))
        self.features = nn.Sequential(*layers)
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features, eps=1e-5)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.norm(self.features(x)).mean(dim=(1, 2))
