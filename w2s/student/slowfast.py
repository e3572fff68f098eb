"""SlowFast-R50 (Kinetics-400, SLOWFAST_8x8_R50), written here because pytorchvideo
needs torchvision. Module and parameter names follow pytorchvideo's `create_slowfast`
layout exactly (blocks.0.multipathway_blocks.0.conv.weight, ..., blocks.6.proj.weight),
so the public checkpoint's `model_state` loads with `load_state_dict(strict=True)`.

Pathways: slow (8 frames, 2048-d out), fast (32 frames, beta = 1/8 channels, 256-d out),
fast->slow lateral fusion after the stem and stages 1-3 (conv 7x1x1, stride 4 = alpha).
"""

from __future__ import annotations

import torch
from torch import nn

DEPTHS = (3, 4, 6, 3)  # ResNet-50 stages
BETA = 8  # fast pathway channel reduction
FUSION_RATIO = 2
ALPHA = 4  # slow/fast frame-rate ratio


def _bn(c: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(c, eps=1e-5, momentum=0.1)


class Stem(nn.Module):
    def __init__(self, c_in: int, c_out: int, t_kernel: int):
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, (t_kernel, 7, 7), stride=(1, 2, 2),
                              padding=(t_kernel // 2, 3, 3), bias=False)
        self.norm = _bn(c_out)
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x):
        return self.pool(self.activation(self.norm(self.conv(x))))


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, c_inner: int, c_out: int, t_kernel: int, t_stride: int, s_stride: int):
        super().__init__()
        self.conv_a = nn.Conv3d(c_in, c_inner, (t_kernel, 1, 1), stride=(t_stride, 1, 1),
                                padding=(t_kernel // 2, 0, 0), bias=False)
        self.norm_a = _bn(c_inner)
        self.act_a = nn.ReLU()
        self.conv_b = nn.Conv3d(c_inner, c_inner, (1, 3, 3), stride=(1, s_stride, s_stride),
                                padding=(0, 1, 1), bias=False)
        self.norm_b = _bn(c_inner)
        self.act_b = nn.ReLU()
        self.conv_c = nn.Conv3d(c_inner, c_out, (1, 1, 1), bias=False)
        self.norm_c = _bn(c_out)

    def forward(self, x):
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class ResBlock(nn.Module):
    def __init__(self, c_in, c_inner, c_out, t_kernel, t_stride, s_stride):
        super().__init__()
        if c_in != c_out or t_stride * s_stride * s_stride != 1:
            self.branch1_conv = nn.Conv3d(c_in, c_out, 1, stride=(t_stride, s_stride, s_stride), bias=False)
            self.branch1_norm = _bn(c_out)
        else:
            self.branch1_conv = self.branch1_norm = None
        self.branch2 = Bottleneck(c_in, c_inner, c_out, t_kernel, t_stride, s_stride)
        self.activation = nn.ReLU()

    def forward(self, x):
        short = x if self.branch1_conv is None else self.branch1_norm(self.branch1_conv(x))
        return self.activation(short + self.branch2(x))


class ResStage(nn.Module):
    def __init__(self, depth, c_in, c_inner, c_out, t_kernel, s_stride):
        super().__init__()
        self.res_blocks = nn.ModuleList(
            ResBlock(c_in if i == 0 else c_out, c_inner, c_out, t_kernel, 1, s_stride if i == 0 else 1)
            for i in range(depth))

    def forward(self, x):
        for b in self.res_blocks:
            x = b(x)
        return x


class FuseFastToSlow(nn.Module):
    def __init__(self, c_fast: int):
        super().__init__()
        self.conv_fast_to_slow = nn.Conv3d(c_fast, c_fast * FUSION_RATIO, (7, 1, 1), stride=(ALPHA, 1, 1),
                                           padding=(3, 0, 0), bias=False)
        self.norm = _bn(c_fast * FUSION_RATIO)
        self.activation = nn.ReLU()

    def forward(self, xs):
        slow, fast = xs
        fuse = self.activation(self.norm(self.conv_fast_to_slow(fast)))
        return [torch.cat([slow, fuse], 1), fast]


class MultiPathWayWithFuse(nn.Module):
    def __init__(self, blocks: list[nn.Module], fusion: nn.Module):
        super().__init__()
        self.multipathway_blocks = nn.ModuleList(blocks)
        self.multipathway_fusion = fusion

    def forward(self, xs):
        out = [blk(x) for blk, x in zip(self.multipathway_blocks, xs, strict=True)]
        return self.multipathway_fusion(out)


class PoolConcatPathway(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.ModuleList([nn.AdaptiveAvgPool3d(1), nn.AdaptiveAvgPool3d(1)])

    def forward(self, xs):
        return torch.cat([p(x) for p, x in zip(self.pool, xs, strict=True)], 1)


class Head(nn.Module):
    def __init__(self, c_in: int, num_classes: int):
        super().__init__()
        self.dropout = nn.Dropout(0.5)
        self.proj = nn.Linear(c_in, num_classes)

    def forward(self, x):  # (B, C, 1, 1, 1)
        return self.proj(self.dropout(x.flatten(1)))


class SlowFastR50(nn.Module):
    """`forward([slow, fast])` -> Kinetics-400 logits; `fast_features([slow, fast])` -> (B, 256)."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        fast_t = (3, 3, 3, 3)
        slow_t = (1, 1, 3, 3)
        blocks: list[nn.Module] = [MultiPathWayWithFuse([Stem(3, 64, 1), Stem(3, 64 // BETA, 5)],
                                                        FuseFastToSlow(64 // BETA))]
        dim_in, dim_out = 64, 256
        for i, depth in enumerate(DEPTHS):
            stride = 1 if i == 0 else 2
            slow = ResStage(depth, dim_in + dim_in * FUSION_RATIO // BETA, dim_out // 4, dim_out, slow_t[i], stride)
            fast = ResStage(depth, dim_in // BETA, dim_out // 4 // BETA, dim_out // BETA, fast_t[i], stride)
            fusion = FuseFastToSlow(dim_out // BETA) if i < len(DEPTHS) - 1 else nn.Identity()
            blocks.append(MultiPathWayWithFuse([slow, fast], fusion))
            dim_in, dim_out = dim_out, dim_out * 2
        blocks.append(PoolConcatPathway())
        blocks.append(Head(dim_in + dim_in // BETA, num_classes))
        self.blocks = nn.ModuleList(blocks)
        self.fast_dim = dim_in // BETA  # 256

    def trunk(self, xs):
        for blk in self.blocks[:5]:
            xs = blk(xs)
        return xs

    def forward(self, xs):
        return self.blocks[6](self.blocks[5](self.trunk(list(xs))))

    def fast_features(self, xs) -> torch.Tensor:
        """The pooled fast-pathway feature (B, 256): the motion feature of METHOD.md. The lateral
        connections run fast -> slow only, so the fast pathway alone computes it, bit for bit as
        the whole trunk does: the slow pathway (the ResNet-50-sized part, ~6x the work here) and
        the fusions are skipped. `xs` is [slow, fast] as for `forward`; only fast is read."""
        fast = xs[1]
        for blk in self.blocks[:5]:
            fast = blk.multipathway_blocks[1](fast)
        return fast.mean(dim=(2, 3, 4))

    def fast_features_full_trunk(self, xs) -> torch.Tensor:
        """`fast_features` through the whole two-pathway trunk (the reference it is tested against)."""
        return self.trunk(list(xs))[1].mean(dim=(2, 3, 4))
