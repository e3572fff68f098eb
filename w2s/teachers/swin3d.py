"""Swin-T-3D as FAST-VQA / FasterVQA / DOVER's technical branch define it, written here
(no torchvision, no timm, no einops). Module and parameter names follow the official
`SwinTransformer3D` (VQAssessment/FAST-VQA-and-FasterVQA, fastvqa/models/swin_backbone.py),
so the released checkpoints load with `strict=True`:

    patch_embed.proj / .norm, layers.{i}.blocks.{j}.{norm1, attn.{relative_position_bias_table,
    fragment_position_bias_table, relative_position_index, qkv, proj}, norm2, mlp.{fc1, fc2}},
    layers.{i}.downsample.{reduction, norm}, norm

What differs from the original Video Swin: the gated relative position bias (GRPB) of the
fragments (a second bias table per block where `frag_biases[i]`, mixed with the usual one by
the fragment-coordinate gate), and windows that shrink with the input (adaptive window size
relative to `base_x_size` = (32, 224, 224); DOVER's copy of the backbone keeps fixed windows).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn


def window_partition(x: torch.Tensor, ws) -> torch.Tensor:
    """(B, D, H, W, C) -> (B * windows, wd * wh * ww, C)."""
    b, d, h, w, c = x.shape
    x = x.view(b, d // ws[0], ws[0], h // ws[1], ws[1], w // ws[2], ws[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, ws[0] * ws[1] * ws[2], c)


def window_reverse(windows: torch.Tensor, ws, b: int, d: int, h: int, w: int) -> torch.Tensor:
    x = windows.view(b, d // ws[0], h // ws[1], w // ws[2], ws[0], ws[1], ws[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, w, -1)


def clamp_window(x_size, window, shift):
    """The window (and shift) used on an input of `x_size`: a dimension no larger than the
    window is one window, without shift."""
    window, shift = list(window), list(shift)
    for i, n in enumerate(x_size):
        if n <= window[i]:
            window[i], shift[i] = n, 0
    return tuple(window), tuple(shift)


def adaptive_window(window, x_size, base_x_size):
    """The official adaptive window: scaled by the input's size relative to `base_x_size`."""
    return tuple(max(1, (w * x) // b) for w, x, b in zip(window, x_size, base_x_size, strict=True))


@functools.lru_cache(maxsize=64)
def shift_mask(d: int, h: int, w: int, ws, shift, device) -> torch.Tensor:
    """The (windows, N, N) 0 / -100 mask of shifted-window attention."""
    img = torch.zeros((1, d, h, w, 1), device=device)
    cnt = 0
    for sd in (slice(-ws[0]), slice(-ws[0], -shift[0]), slice(-shift[0], None)):
        for sh in (slice(-ws[1]), slice(-ws[1], -shift[1]), slice(-shift[1], None)):
            for sw in (slice(-ws[2]), slice(-ws[2], -shift[2]), slice(-shift[2], None)):
                img[:, sd, sh, sw, :] = cnt
                cnt += 1
    win = window_partition(img, ws).squeeze(-1)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


@functools.lru_cache(maxsize=64)
def fragment_gate(d: int, h: int, w: int, ws, shift, device) -> torch.Tensor:
    """(windows, N, N): sum of |fragment-coordinate differences| of each token pair, where the
    map is cut into a (1, wh, ww) grid of fragments (the official global position index)."""
    grid = torch.stack(torch.meshgrid(torch.arange(1), torch.arange(ws[1]), torch.arange(ws[2]),
                                      indexing="ij")).float()
    coords = F.interpolate(grid[None].to(device), size=(d, h, w)).long().permute(0, 2, 3, 4, 1)
    coords = torch.roll(coords, shifts=(-shift[0], -shift[1], -shift[2]), dims=(1, 2, 3))
    win = window_partition(coords, ws)
    return (win[:, None, :] - win[:, :, None]).abs().sum(-1)


def relative_index(ws) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(*[torch.arange(n) for n in ws], indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    for i in range(3):
        rel[:, :, i] += ws[i] - 1
    rel[:, :, 0] *= (2 * ws[1] - 1) * (2 * ws[2] - 1)
    rel[:, :, 1] *= 2 * ws[2] - 1
    return rel.sum(-1)


class WindowAttention3D(nn.Module):
    def __init__(self, dim: int, window, num_heads: int, frag_bias: bool):
        super().__init__()
        self.window_size, self.num_heads = tuple(window), num_heads
        self.scale = (dim // num_heads) ** -0.5
        size = (2 * window[0] - 1) * (2 * window[1] - 1) * (2 * window[2] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(size, num_heads))
        if frag_bias:
            self.fragment_position_bias_table = nn.Parameter(torch.zeros(size, num_heads))
        self.register_buffer("relative_position_index", relative_index(self.window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def _bias(self, table, ws, n, adaptive: bool):
        if adaptive:  # the index of the (smaller) window, cut from the full one
            idx = self.relative_position_index.reshape(*self.window_size, *self.window_size)
            idx = idx[:ws[0], :ws[1], :ws[2], :ws[0], :ws[1], :ws[2]].reshape(-1)
        else:  # the official fixed-window path: the first N rows and columns
            idx = self.relative_position_index[:n, :n].reshape(-1)
        return table[idx].reshape(n, n, -1).permute(2, 0, 1)

    def forward(self, x, ws, mask=None, gate=None, adaptive: bool = True):
        b_, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self._bias(self.relative_position_bias_table, ws, n, adaptive).unsqueeze(0)  # 1, nH, N, N
        nw = gate.shape[0]
        if hasattr(self, "fragment_position_bias_table"):
            g = gate.unsqueeze(1).to(attn.dtype)
            bias = bias * g + self._bias(self.fragment_position_bias_table, ws, n, adaptive).unsqueeze(0) * (1 - g)
        attn = (attn.view(b_ // nw, nw, self.num_heads, n, n) + bias.unsqueeze(0))
        if mask is not None:
            attn = attn + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, self.num_heads, n, n).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b_, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock3D(nn.Module):
    def __init__(self, dim, num_heads, window, shifted: bool, frag_bias: bool, mlp_ratio=4.0):
        super().__init__()
        self.window_size = tuple(window)
        self.shift_size = tuple(w // 2 for w in window) if shifted else (0, 0, 0)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, window, num_heads, frag_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def _attend(self, x, window, mask, adaptive):
        b, d, h, w, c = x.shape
        ws, shift = clamp_window((d, h, w), window, self.shift_size)
        pads = [(ws[i] - n % ws[i]) % ws[i] for i, n in enumerate((d, h, w))]
        x = F.pad(self.norm1(x), (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        _, dp, hp, wp, _ = x.shape
        shifted = any(s > 0 for s in shift)
        if shifted:
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        gate = fragment_gate(dp, hp, wp, ws, shift, x.device)
        out = self.attn(window_partition(x, ws), ws, mask if shifted else None, gate, adaptive)
        x = window_reverse(out.view(-1, *ws, c), ws, b, dp, hp, wp)
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        return x[:, :d, :h, :w, :]

    def forward(self, x, window, mask, adaptive=True):
        x = x + self._attend(x, window, mask, adaptive)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x):  # B, D, H, W, C
        _, _, h, w, _ = x.shape
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    def __init__(self, dim, depth, num_heads, window, downsample: bool, frag_bias: bool):
        super().__init__()
        self.window_size = tuple(window)
        self.blocks = nn.ModuleList(SwinBlock3D(dim, num_heads, window, i % 2 == 1, frag_bias) for i in range(depth))
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x, window=None):  # B, C, D, H, W; window None = the fixed (non-adaptive) one
        b, c, d, h, w = x.shape
        adaptive, window = window is not None, window or self.window_size
        ws, shift = clamp_window((d, h, w), window, tuple(n // 2 for n in self.window_size))
        mask = shift_mask(*(math.ceil(n / s) * s for n, s in zip((d, h, w), ws, strict=True)), ws, shift, x.device)
        x = x.permute(0, 2, 3, 4, 1)
        for blk in self.blocks:
            x = blk(x, window, mask, adaptive)
        if self.downsample is not None:
            x = self.downsample(x)
        return x.permute(0, 4, 1, 2, 3)


class PatchEmbed3D(nn.Module):
    def __init__(self, patch=(2, 4, 4), dim=96):
        super().__init__()
        self.patch_size = patch
        self.proj = nn.Conv3d(3, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        d, h, w = x.shape[2:]
        p = self.patch_size
        x = F.pad(x, (0, (-w) % p[2], 0, (-h) % p[1], 0, (-d) % p[0]))
        x = self.proj(x)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


class SwinTransformer3D(nn.Module):
    """`forward(x)`: (B, 3, T, H, W) normalised -> (B, 768, T/2, H/32, W/32), last stage, normed."""

    def __init__(self, window_size=(8, 7, 7), frag_biases=(True, True, True, False), depths=(2, 2, 6, 2),
                 num_heads=(3, 6, 12, 24), embed_dim=96, base_x_size=(32, 224, 224), adaptive_window: bool = True):
        super().__init__()
        self.window_size, self.base_x_size = tuple(window_size), tuple(base_x_size)
        self.adaptive_window = adaptive_window  # FAST-VQA / FasterVQA: True; DOVER's copy: False
        self.patch_embed = PatchEmbed3D((2, 4, 4), embed_dim)
        self.layers = nn.ModuleList(
            BasicLayer(embed_dim * 2 ** i, depths[i], num_heads[i], self.window_size, i < len(depths) - 1,
                       bool(frag_biases[i])) for i in range(len(depths)))
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features)
        self.apply(_init)

    def forward(self, x):
        window = adaptive_window(self.window_size, x.shape[2:], self.base_x_size) if self.adaptive_window else None
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x.contiguous(), window)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
