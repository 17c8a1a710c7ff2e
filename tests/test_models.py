"""Architectures: layer layout, parameter counts, shapes, pooling, conditioning."""

from __future__ import annotations

import pytest
import torch

from gan3d_core import ModelConfig
from gan3d_core.models import GanNetworks, ImageEncoder
from tests.conftest import tiny_networks


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_generator_64_has_17_6_million_parameters():
    networks = GanNetworks(ModelConfig(resolution=64))
    # 200*512*64 + 512*256*64 + 256*128*64 + 128*64*64 + 64*64 weights + 2*(512+256+128+64) BN
    assert count(networks.generator) == 17_567_744 + 2 * (512 + 256 + 128 + 64)
    layers = [m for m in networks.generator.modules() if isinstance(m, torch.nn.ConvTranspose3d)]
    assert [m.kernel_size for m in layers] == [(4, 4, 4)] * 5
    assert [m.stride for m in layers] == [(2, 2, 2)] * 5
    no_linear_or_pooling = (torch.nn.Linear, torch.nn.MaxPool3d, torch.nn.AvgPool3d)
    assert not any(isinstance(m, no_linear_or_pooling) for m in networks.modules())


@pytest.mark.parametrize("resolution", [32, 64])
def test_generator_and_discriminator_shapes(resolution):
    config = ModelConfig(resolution=resolution, latent_dim=16)
    networks = GanNetworks(config).eval()
    logits = networks.generator(torch.randn(2, 16))
    assert logits.shape == (2, 1, resolution, resolution, resolution)
    assert networks.discriminator(torch.sigmoid(logits)).shape == (2,)
    features = networks.discriminator.features(torch.sigmoid(logits))
    assert [f.shape[-1] for f in features] == [
        resolution // 2**i for i in range(1, len(features) + 1)
    ]


def test_32_variant_has_one_layer_fewer():
    convs = [
        m
        for m in GanNetworks(ModelConfig(resolution=32)).generator.modules()
        if isinstance(m, torch.nn.ConvTranspose3d)
    ]
    assert len(convs) == 4


def test_paper_encoder_maps_256px_to_mean_and_log_variance():
    config = ModelConfig(kind="vaegan", encoder_architecture="paper", image_size=256)
    encoder = ImageEncoder(config).eval()
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.kernel_size[0] for m in convs] == [11, 5, 5, 5, 8]
    assert [m.stride[0] for m in convs] == [4, 2, 2, 2, 1]
    assert [m.out_channels for m in convs] == [64, 128, 256, 512, 400]
    mean, log_variance = encoder(torch.rand(2, 3, 256, 256))
    assert mean.shape == log_variance.shape == (2, 200)


@pytest.mark.parametrize("size", [64, 128])
def test_light_encoder(size):
    config = ModelConfig(kind="vaegan", image_size=size, latent_dim=10)
    mean, _ = ImageEncoder(config).eval()(torch.rand(1, 3, size, size))
    assert mean.shape == (1, 10)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, 64, 64\)"):
        ImageEncoder(ModelConfig(kind="vaegan", image_size=64))(torch.rand(1, 3, 32, 32))


def test_multiview_pooling_values():
    encoder = tiny_networks("multiview").encoder
    latents = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [2.0, 5.0]]])  # (B=1, V=3, L=2)
    assert encoder.pool(latents, "mean").tolist() == [[2.0, 1.0]]
    assert encoder.pool(latents, "max").tolist() == [[3.0, 5.0]]
    assert encoder.pool(torch.randn(2, 3, 8), "lstm").shape == (2, 8)


def test_shared_encoder_is_applied_per_view():
    encoder = tiny_networks("multiview").encoder
    views = torch.rand(1, 3, 3, 64, 64)
    mean, _ = encoder(views)  # (1, 3, L)
    single, _ = encoder.image_encoder(views[0, 1:2])
    torch.testing.assert_close(mean[0, 1:2], single)


def test_lstm_pool_needs_an_lstm_model():
    encoder = tiny_networks("vaegan").encoder
    with pytest.raises(ValueError, match="no LSTM"):
        encoder.pool(torch.randn(1, 2, 8), "lstm")


def test_conditional_networks_depend_on_the_label():
    networks = tiny_networks("cvaegan")
    z = torch.randn(1, 8).repeat(2, 1)
    logits = networks.generator(z, torch.tensor([0, 1]))
    assert not torch.allclose(logits[0], logits[1])
    scores = networks.discriminator(
        torch.sigmoid(logits[:1]).repeat(2, 1, 1, 1, 1), torch.tensor([0, 2])
    )
    assert scores[0] != scores[1]
    with pytest.raises(ValueError, match="needs class labels"):
        networks.generator(z)


def test_dropout3d_is_optional():
    networks = GanNetworks(
        ModelConfig(generator_dropout=0.2, discriminator_dropout=0.3, latent_dim=8)
    )
    rates = sorted({m.p for m in networks.modules() if isinstance(m, torch.nn.Dropout3d)})
    assert rates == [0.2, 0.3]
    assert not any(isinstance(m, torch.nn.Dropout3d) for m in GanNetworks(ModelConfig()).modules())


def test_config_round_trip_and_validation():
    config = ModelConfig(kind="cvaegan", num_classes=10, num_views=5, pool="max")
    assert ModelConfig.from_dict(config.to_dict()) == config
    assert config.generator_widths == (256, 128, 64)
    with pytest.raises(ValueError, match="resolution 48 is not one of"):
        ModelConfig(resolution=48)
    with pytest.raises(ValueError, match="generator_widths needs 4 entries at 64"):
        ModelConfig(resolution=64, generator_widths=(8, 8))
    with pytest.raises(ValueError, match="multiview model needs num_views >= 2"):
        ModelConfig(kind="multiview")
    with pytest.raises(ValueError, match="unknown model config keys: bogus"):
        ModelConfig.from_dict({"bogus": 1})
