"""Shared fixtures: small real checkpoints, hand-made shapes, the shared third-party data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gan3d_core import ModelConfig, save_checkpoint
from gan3d_core.models import GanNetworks

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLASS_NAMES = ["chair", "table", "sofa"]


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the project; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party data not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


def tiny_networks(kind: str = "gan", seed: int = 0, **overrides) -> GanNetworks:
    """A small model with non-trivial BatchNorm statistics, so folding them is exercised."""
    settings = dict(
        kind=kind,
        resolution=32,
        latent_dim=8,
        generator_widths=(16, 8, 4),
        discriminator_widths=(4, 8, 16),
    )
    if kind != "gan":
        settings.update(image_size=64, encoder_widths=(4, 8, 8, 16))
    if kind == "cvaegan":
        settings.update(num_classes=len(CLASS_NAMES), label_embedding_dim=4)
    if kind == "multiview":
        settings.update(num_views=3, pool="lstm")
    if kind == "lgan":
        settings.update(
            num_classes=len(CLASS_NAMES), label_embedding_dim=4, noise_dim=4,
            latent_gan_width=8, head_width=8, bank_shapes=4, bank_views=2, bank_feature_dim=4,
        )  # fmt: skip
    settings.update(overrides)
    torch.manual_seed(seed)
    networks = GanNetworks(ModelConfig(**settings))
    generator = torch.Generator().manual_seed(seed)
    if networks.implicit is not None:  # a correction to the voxel decoder, not none
        torch.nn.init.normal_(networks.implicit.layers[-1].weight, std=0.5, generator=generator)
    for module in networks.modules():
        if isinstance(module, torch.nn.BatchNorm3d | torch.nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.rand(size, generator=generator) * 0.4 - 0.2)
            module.running_var.copy_(torch.rand(size, generator=generator) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(size, generator=generator) * 0.2 - 0.1)
    return networks.eval()


def _checkpoint(tmp_path_factory, kind: str, **overrides) -> Path:
    name = "_".join([kind, *overrides])
    path = tmp_path_factory.mktemp("models") / f"tiny_{name}.safetensors"
    card = {"name": f"tiny {name}", "training": {"data": "none (random weights)"}}
    if kind in ("cvaegan", "lgan"):
        card["class_names"] = CLASS_NAMES
    if kind == "lgan":
        card["inference"] = {"refine_steps": 2, "retrieval_candidates": 2}
    save_checkpoint(path, tiny_networks(kind, **overrides), card)
    return path


@pytest.fixture(scope="session")
def gan_checkpoint(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory, "gan")


@pytest.fixture(scope="session")
def cvaegan_checkpoint(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory, "cvaegan")


@pytest.fixture(scope="session")
def lgan_checkpoint(tmp_path_factory) -> Path:
    """A staged model with random weights (its bank of 4 shapes included)."""
    return _checkpoint(tmp_path_factory, "lgan")


@pytest.fixture(scope="session")
def implicit_checkpoint(tmp_path_factory) -> Path:
    """A staged model with an implicit decoder (random weights)."""
    return _checkpoint(tmp_path_factory, "lgan", implicit_width=8)


@pytest.fixture(scope="session")
def multiview_checkpoint(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory, "multiview")


def box_grid(size: int, low: tuple[int, int, int], high: tuple[int, int, int]) -> np.ndarray:
    """A float32 grid with a solid box of voxels from ``low`` to ``high`` (exclusive)."""
    grid = np.zeros((size,) * 3, dtype=np.float32)
    grid[low[0] : high[0], low[1] : high[1], low[2] : high[2]] = 1.0
    return grid


def object_photo(size: int = 96, background=(200, 200, 200)) -> np.ndarray:
    """An RGB 'photo': a dark rectangle (the object) off-centre on a plain background."""
    image = np.empty((size, size + 20, 3), dtype=np.uint8)
    image[:] = background
    image[20:60, 30:50] = (40, 60, 90)
    return image


def synthetic_shapes(per_class: int = 6, resolution: int = 32, seed: int = 0):
    """Three classes of solid primitives with random sizes: boxes, balls and columns.

    Returns (voxels uint8 (N, R, R, R), labels (N,), class names).
    """
    rng = np.random.default_rng(seed)
    axis = np.arange(resolution) - (resolution - 1) / 2
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    shapes, labels = [], []
    for _ in range(per_class):
        half = rng.uniform(0.2, 0.4, size=3) * resolution
        shapes.append((np.abs(x) < half[0]) & (np.abs(y) < half[1]) & (np.abs(z) < half[2]))
        radius = rng.uniform(0.25, 0.42) * resolution
        shapes.append(x**2 + y**2 + z**2 < radius**2)
        radius, height = rng.uniform(0.1, 0.2) * resolution, rng.uniform(0.3, 0.45) * resolution
        shapes.append((x**2 + y**2 < radius**2) & (np.abs(z) < height))
        labels += [0, 1, 2]
    return np.stack(shapes).astype(np.uint8), np.array(labels, np.int64), ["box", "ball", "column"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A render and voxel cache shared by a test module's training runs."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory) -> Path:
    voxels, labels, names = synthetic_shapes()
    path = tmp_path_factory.mktemp("data") / "shapes.npz"
    np.savez(path, voxels=voxels, labels=labels, class_names=np.array(names))
    return path
