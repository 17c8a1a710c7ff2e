"""3D-VAE-GAN image encoders: views -> mean and log-variance of the latent."""

from __future__ import annotations

import torch
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.errors import UsageError


def _conv_block(in_channels: int, out_channels: int, kernel: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(
            in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class ImageEncoder(nn.Module):
    """image (B, 3, S, S) in [0, 1] -> (mean, log_variance), each (B, latent_dim).

    ``paper``: kernels 11,5,5,5 / strides 4,2,2,2 on 256 px, then an 8x8 convolution to
    2 * latent_dim channels at 1x1 (Wu et al. 2016). ``light``: 5x5 stride-2 convolutions
    down to 4x4, then a 4x4 convolution, for 64 or 128 px input.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.encoder_widths
        if config.encoder_architecture == "paper":
            kernels, strides, last_kernel = (11, 5, 5, 5), (4, 2, 2, 2), 8
        else:
            kernels, strides, last_kernel = (5,) * len(widths), (2,) * len(widths), 4
        layers: list[nn.Module] = []
        in_channels = 3
        for width, kernel, stride in zip(widths, kernels, strides):
            layers += _conv_block(in_channels, width, kernel, stride)
            in_channels = width
        layers.append(nn.Conv2d(in_channels, 2 * config.latent_dim, last_kernel))
        self.layers = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.config.image_size
        if images.ndim != 4 or images.shape[1:] != (3, size, size):
            raise ValueError(
                f"images must have shape (B, 3, {size}, {size}), got {tuple(images.shape)}"
            )
        out = self.layers(images).flatten(1)  # (B, 2L, 1, 1) -> (B, 2L)
        mean, log_variance = out.chunk(2, dim=1)  # (B, L) each
        return mean, log_variance


class MultiViewEncoder(nn.Module):
    """views (B, V, 3, S, S) -> per-view (mean, log_variance), each (B, V, latent_dim).

        One :class:`ImageEncoder` shared by every view; :meth:`pool` combines per-view latents.
        A single-view VAE-GAN is the V = 1 case. The LSTM exists only for ``pool="lstm"``, the
    class predictor only with ``encoder_classifier``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config)
        self.lstm = (
            nn.LSTM(config.latent_dim, config.latent_dim, batch_first=True)
            if config.pool == "lstm"
            else None
        )
        self.classifier = (
            nn.Linear(config.latent_dim, config.num_classes) if config.encoder_classifier else None
        )

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if views.ndim != 5:
            raise ValueError(f"views must have shape (B, V, 3, S, S), got {tuple(views.shape)}")
        batch, num_views = views.shape[:2]
        mean, log_variance = self.image_encoder(views.flatten(0, 1))  # (B*V, L) each
        return mean.view(batch, num_views, -1), log_variance.view(batch, num_views, -1)

    def classify(self, latents: torch.Tensor) -> torch.Tensor:
        """Class logits (B, C) of pooled latents (B, L); needs ``encoder_classifier``."""
        if self.classifier is None:
            raise ValueError("this model's encoder has no class predictor")
        return self.classifier(latents)

    def pool(self, latents: torch.Tensor, method: str | None = None) -> torch.Tensor:
        """Combine per-view latents (B, V, L) into one latent per object (B, L)."""
        method = method or self.config.pool
        if method == "mean":
            return latents.mean(dim=1)
        if method == "max":
            return latents.amax(dim=1)
        if method == "lstm":
            if self.lstm is None:
                raise UsageError(
                    f"this model was trained with {self.config.pool} pooling and has no LSTM; "
                    "use mean or max"
                )
            outputs, _ = self.lstm(latents)  # (B, V, L)
            return outputs[:, -1]
        raise UsageError(f"pool must be mean, max or lstm, got {method!r}")
