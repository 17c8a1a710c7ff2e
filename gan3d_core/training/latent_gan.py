"""Stage 2 of the staged recipe: a latent GAN (l-GAN, Achlioptas et al. 2018) on the shape
autoencoder's latents, so that random samples decode into whole objects.

WGAN-GP (Gulrajani et al. 2017): the critic takes five steps per sampler step, with a
gradient penalty on random interpolates; both are class-conditional through a learned
class embedding appended to their input. The validation figure is the 1-nearest-neighbour
accuracy (1-NNA, ideal 0.5) between sampled and held-out latents, per class, in the
latent space itself: decoding is left to ``gan3d eval --task gen``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gan3d_core.config import ModelConfig
from gan3d_core.metrics import nearest_neighbour_accuracy
from gan3d_core.models.latent import LatentCritic, LatentSampler
from gan3d_core.training.stages import TrainingStage

CRITIC_STEPS = 5
GRADIENT_PENALTY = 10.0


def latent_one_nna(samples: np.ndarray, reference: np.ndarray) -> float:
    """1-NNA (0.5: alike) of two sets of latent vectors, by Euclidean distance."""
    both = np.concatenate([samples, reference]).astype(np.float64)
    squared = (both**2).sum(1)
    distance = squared[:, None] + squared[None] - 2 * both @ both.T
    return nearest_neighbour_accuracy(distance, len(samples))


class LatentGanStage(TrainingStage):
    """Trains ``latent_sampler`` and ``latent_critic`` on fixed latents (N, L)."""

    name = "latent_gan"

    def __init__(
        self,
        config: ModelConfig,
        train: tuple[np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray],
        batch_size: int = 128,
        learning_rate: float = 1e-4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.config = config
        self.train_latents = torch.from_numpy(np.asarray(train[0], np.float32))
        self.train_labels = torch.from_numpy(np.asarray(train[1], np.int64))
        self.validation_latents, self.validation_labels = validation
        self.batch_size = batch_size
        self.seed = seed
        torch.manual_seed(seed)
        self.networks = nn.ModuleDict(
            {"latent_sampler": LatentSampler(config), "latent_critic": LatentCritic(config)}
        )
        self.networks["latent_critic"].latent_scale.fit(self.train_latents)
        self.networks["latent_sampler"].fit_base(
            self.train_latents, self.train_labels if config.conditional else None
        )
        betas = (0.5, 0.9)
        self.optimizers = {
            "sampler": torch.optim.Adam(
                self.networks["latent_sampler"].parameters(), learning_rate, betas
            ),
            "critic": torch.optim.Adam(
                self.networks["latent_critic"].parameters(), learning_rate, betas
            ),
        }
        self.base_rates = {"sampler": learning_rate, "critic": learning_rate}

    @property
    def modules(self) -> nn.Module:
        return self.networks

    def _labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        return labels if self.config.conditional else None

    def train_step(self, step: int) -> dict[str, float]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        sampler, critic = self.networks["latent_sampler"], self.networks["latent_critic"]
        chosen = torch.randint(len(self.train_latents), (self.batch_size,), generator=generator)
        real, labels = self.train_latents[chosen], self._labels(self.train_labels[chosen])
        noise = torch.randn(self.batch_size, self.config.noise_dim, generator=generator)
        fake = sampler(noise, labels)
        # critic: Wasserstein estimate plus the gradient penalty on interpolates
        mix = torch.rand(self.batch_size, 1, generator=generator)
        between = (mix * real + (1 - mix) * fake.detach()).requires_grad_(True)
        (gradients,) = torch.autograd.grad(
            critic(between, labels).sum(), between, create_graph=True
        )
        penalty = ((gradients.norm(dim=1) - 1) ** 2).mean()
        distance = critic(real, labels).mean() - critic(fake.detach(), labels).mean()
        loss_critic = -distance + GRADIENT_PENALTY * penalty
        self.optimizers["critic"].zero_grad(set_to_none=True)
        loss_critic.backward()
        self.optimizers["critic"].step()
        logs = {"wasserstein": distance.item(), "penalty": penalty.item()}
        if step % CRITIC_STEPS == 0:
            loss_sampler = -critic(sampler(noise, labels), labels).mean()
            self.optimizers["sampler"].zero_grad(set_to_none=True)
            loss_sampler.backward()
            self.optimizers["sampler"].step()
        return logs

    def sample(self, count: int, label: int | None, seed: int) -> np.ndarray:
        noise = torch.randn(
            count, self.config.noise_dim, generator=torch.Generator().manual_seed(seed)
        )
        labels = None if label is None else torch.full((count,), label, dtype=torch.long)
        with torch.no_grad():
            return self.networks["latent_sampler"](noise, self._labels(labels)).numpy()

    def validate(self) -> dict[str, float]:
        latents, labels = self.validation_latents, self.validation_labels
        groups = np.unique(labels) if self.config.conditional else [None]
        scores = []
        for label in groups:
            reference = latents if label is None else latents[labels == label]
            if len(reference) < 2:
                continue
            samples = self.sample(len(reference), None if label is None else int(label), 0)
            scores.append(latent_one_nna(samples, reference))
        if not scores:
            return {}  # no class has two held-out latents to compare with
        value = float(np.mean(scores))
        return {"latent_1nna": value, "score": -abs(value - 0.5)}
