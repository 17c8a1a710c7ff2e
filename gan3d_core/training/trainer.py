"""The training loop of the four model families (gan, vaegan, multiview, cvaegan).

One step per batch:

0. G decodes the noise batch and, through E, the views: once, with gradients.
1. The discriminators (the 3D one and, with ``projection_axes``, MPSE-GAN's projection ones):
   real shapes against (detached) generated ones and, if asked, reconstructions as real or
   fake; each updated only while its batch accuracy is below ``d_accuracy_threshold`` (3D-GAN).
2. E and G together, against the updated discriminators: E minimises ``kl_weight * KL +
   recon_weight * recon (+ SSIM) (+ silhouette_weight * DIB-R's silhouette loss)``; G
   minimises the adversarial losses plus the same reconstruction terms. Trained on
   silhouettes alone (``silhouettes_only``), no term sees a voxel of the training shapes:
   the projection discriminators judge their silhouettes, the encoder learns from the
   views' masks.
   With a voxel teacher (``voxel_teacher_weight``), the teacher and G also autoencode the
   real shapes, and E's means are pulled toward the teacher's.
   One backward pass serves both (each loss reaches only its own network's parameters;
   the adversarial term on reconstructions decodes a detached latent so E never sees it),
   instead of the paper's separate E and G passes that decode everything again.

The trainer reports through callbacks and never prints. Every step seeds its own random
generators from (seed, step, rank), so a resumed run continues exactly where it stopped.
With several processes (torchrun) each rank takes its shard of every epoch through a
DistributedSampler and gradients are averaged across ranks before each update; only rank 0
writes files.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from gan3d_core.data.augment import ShapeAugmentation, augment_images
from gan3d_core.data.datasets import shapes_digest
from gan3d_core.errors import CheckpointError, Gan3dError, UsageError
from gan3d_core.inference import resolve_device
from gan3d_core.io.atomic import write_bytes_atomic
from gan3d_core.io.checkpoint import (
    RUN_MODEL_FILE,
    RUN_SETTINGS_FILE,
    checkpoint_file,
    config_differences,
    load_checkpoint,
    save_checkpoint,
)
from gan3d_core.metrics import iou, mean_pairwise_iou, ssim3d_torch
from gan3d_core.models import GanNetworks
from gan3d_core.projection import image_mask
from gan3d_core.training.config import TrainConfig
from gan3d_core.training.losses import SILHOUETTE_SIZE, reconstruction_loss, silhouette_loss
from gan3d_core.training.stages import autocast, autocast_dtype
from gan3d_core.training.state import load_training_state, save_training_state
from gan3d_core.training.teacher import VoxelTeacher

StopHook = Callable[[], bool]

MODEL_FILE = RUN_MODEL_FILE
STATE_FILE = "training_state.safetensors"
CONFIG_FILE = RUN_SETTINGS_FILE


class TrainingDiverged(Gan3dError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainingData:
    """Shapes uint8 (N, R, R, R), labels (N,), class names and, for models with an encoder,
    rendered views uint8 (N, K, S, S, 3) with their cameras float32 (N, K, 3): azimuth,
    elevation (degrees) and distance."""

    voxels: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    views: np.ndarray | None = None
    skipped_empty: int = 0
    cameras: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.voxels)


class Judge(NamedTuple):
    """A network that judges shapes: its attribute (and optimizer) name, the prefix of its
    logged figures, and the weight of its adversarial term in G's loss."""

    name: str
    tag: str
    weight: float


class TrainerCallback:
    """Hooks the trainer calls; subclass and override what you need."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None: ...

    def on_validation_end(
        self, trainer: Trainer, metrics: dict[str, float], images: dict[str, np.ndarray]
    ) -> None: ...

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None: ...

    def on_train_end(self, trainer: Trainer, reason: str) -> None: ...


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Trainer:
    """Trains one model from :class:`TrainingData` into ``run_dir``."""

    def __init__(
        self,
        config: TrainConfig,
        train_data: TrainingData,
        validation_data: TrainingData | None,
        run_dir: str | Path,
        callbacks: Sequence[TrainerCallback] = (),
        device: str = "auto",
    ) -> None:
        self.config = config
        self.train_data = train_data
        self.validation_data = validation_data
        # which shapes it trains and validates on (shapes_digest): train_run sets it from its
        # data check, else the first card works it out
        self.data_digest: str | None = None
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks)
        self.rank, self.world_size = _world()
        self.device = resolve_device(device)
        self.model_config = config.model_config(len(train_data.class_names))
        if self.model_config.has_encoder and train_data.views is None:
            raise ValueError(f"a {config.kind} model trains on rendered views; none were given")
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        self.networks = GanNetworks(self.model_config).to(self.device).train()
        self.judges = [
            judge
            for judge in (
                Judge("discriminator", "d", 1.0),
                Judge("projection_discriminators", "projection_d", config.projection_weight),
            )
            if getattr(self.networks, judge.name) is not None
        ]
        # oneDNN's 3D convolutions train ~1.4x faster on channels-last tensors (benchmarks/).
        self.networks.generator.to(memory_format=torch.channels_last_3d)
        if self.networks.discriminator is not None:
            self.networks.discriminator.to(memory_format=torch.channels_last_3d)
        betas = (config.beta1, config.beta2)
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "generator": torch.optim.Adam(
                self.networks.generator.parameters(), config.lr_generator, betas
            ),
        }
        for judge in self.judges:
            self.optimizers[judge.name] = torch.optim.Adam(
                getattr(self.networks, judge.name).parameters(), config.lr_discriminator, betas
            )
        if self.networks.encoder is not None:
            self.optimizers["encoder"] = torch.optim.Adam(
                self.networks.encoder.parameters(), config.lr_encoder, betas
            )
        self.teacher: VoxelTeacher | None = None
        if config.voxel_teacher_weight > 0:
            self.teacher = VoxelTeacher(self.model_config).to(self.device).train()
            self.optimizers["teacher"] = torch.optim.Adam(
                self.teacher.parameters(), config.lr_encoder, betas
            )
        self.sampler = DistributedSampler(
            range(len(train_data)),
            num_replicas=self.world_size,
            rank=self.rank,
            shuffle=True,
            seed=config.seed,
            drop_last=True,
        )
        self.steps_per_epoch = len(self.sampler) // config.batch_size
        if self.steps_per_epoch < 1:
            raise UsageError(
                f"{len(train_data)} training shapes make no full batch of {config.batch_size} "
                f"per process ({self.world_size} processes); lower --batch-size"
            )
        self.total_steps = config.epochs * self.steps_per_epoch
        self.step = 0
        self.first_step = 0  # where the last fit began
        self.d_updates = 0
        self.started = time.time()
        self.elapsed_before = 0.0
        self.last_validation: dict[str, float] = {}
        self.augmentation = ShapeAugmentation(
            config.rotation_degrees, config.translation_voxels, config.mirror
        )
        self._epoch_order: tuple[int, list[int]] = (-1, [])
        self._validation_cache: dict[str, Any] = {}
        self.autocast_dtype = autocast_dtype(config.precision, self.device)

    # -- bookkeeping ----------------------------------------------------------------------

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def epoch(self) -> float:
        return self.step / self.steps_per_epoch

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.time() - self.started

    def _emit(self, hook: str, *args) -> None:
        if self.is_main:
            for callback in self.callbacks:
                getattr(callback, hook)(self, *args)

    def _data_digest(self) -> str:
        if self.data_digest is None:
            self.data_digest = shapes_digest((self.train_data, self.validation_data))
        return self.data_digest

    def card(self) -> dict[str, Any]:
        """The model card written with every checkpoint."""
        data = self.train_data
        counts = np.bincount(data.labels, minlength=len(data.class_names))
        return {
            "name": f"{self.config.kind} {self.config.resolution}^3",
            "class_names": list(data.class_names),
            "training": {
                "data": self.config.data,
                "shapes": len(data),
                "empty_shapes_skipped": data.skipped_empty,
                "shapes_per_class": dict(zip(data.class_names, counts.tolist())),
                "data_sha256": self._data_digest(),
                "steps": self.step,
                "epochs": round(self.epoch, 3),
                "seconds": round(self.elapsed, 1),
                "processes": self.world_size,
                "device": str(self.device),
                "settings": self.config.card_settings(),
            },
            "metrics": {"validation": self.last_validation} if self.last_validation else {},
        }

    def save(self, estimate_norms: bool = True) -> Path | None:
        """Write the resumable state and the inference checkpoint (rank 0 only).

        ``estimate_norms=False`` skips re-estimating the encoder's BatchNorm statistics, for
        a save right after :meth:`validate` did so at the same step."""
        if not self.is_main:
            return None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        info = {
            "step": self.step,
            "d_updates": self.d_updates,
            "elapsed": self.elapsed,
            "last_validation": self.last_validation,
        }
        save_training_state(
            self.run_dir / STATE_FILE, self._trained_modules(), self.optimizers, info
        )
        if estimate_norms and self.networks.encoder is not None:
            self._recalibrate_encoder_norms()  # the checkpoint is used in eval mode
        path = save_checkpoint(self.run_dir / MODEL_FILE, self.networks, self.card())
        self._emit("on_checkpoint", path)
        return path

    def resume(self) -> None:
        """Continue from ``run_dir``'s training state."""
        info = load_training_state(
            self.run_dir / STATE_FILE, self._trained_modules(), self.optimizers
        )
        # The optimizer state brings back its saved hyper-parameters; the ones asked for now
        # (e.g. lower learning rates after a divergence) win.
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["betas"] = (self.config.beta1, self.config.beta2)
        self.step = int(info["step"])
        self.d_updates = int(info["d_updates"])
        self.elapsed_before = float(info["elapsed"])
        self.started = time.time()
        self.last_validation = info.get("last_validation", {})

    def initialise_from(self, path: str | Path) -> None:
        """Start from the weights of a checkpoint (or a run folder's) for fine-tuning; it must
        hold the architecture this run trains. Optimizers start afresh."""
        path = checkpoint_file(path)
        networks, _ = load_checkpoint(path)
        differences = config_differences(networks.config, self.model_config)
        if differences:
            raise CheckpointError(
                f"{path}: holds a different model from the one this run trains: "
                + ", ".join(differences)
            )
        self.networks.load_state_dict(networks.state_dict())

    def _trained_modules(self) -> torch.nn.Module:
        """What the training state stores: the networks and, when there is one, the teacher
        (under ``teacher.``; checkpoints never hold it)."""
        if self.teacher is None:
            return self.networks
        return torch.nn.ModuleDict(
            {**dict(self.networks.named_children()), "teacher": self.teacher}
        )

    def write_config(self) -> None:
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self.config.to_dict(), indent=2)
            write_bytes_atomic(self.run_dir / CONFIG_FILE, text.encode())

    # -- the loop -------------------------------------------------------------------------

    def fit(self, should_stop: StopHook | None = None) -> str:
        """Train until the last epoch ends (-> "finished") or ``should_stop()`` (-> "stopped").

        State is saved every ``checkpoint_every`` steps and when stopping; a non-finite loss
        raises :class:`TrainingDiverged` and leaves the last saved state untouched.
        """
        self.first_step = self.step  # where this call began (a resumed run's saved step)
        if self.step >= self.total_steps:  # resumed with no more epochs than it trained:
            return "finished"  # its settings and card stay those of the steps it took
        self.write_config()
        self._emit("on_train_start")
        reason = "finished"
        validated_at = -1
        while self.step < self.total_steps:
            if self._agreed_stop(should_stop):
                reason = "stopped"
                break
            logs = {"lr_factor": self._set_learning_rates()}
            logs.update(self.train_step(self._batch(self.step)))
            bad = [k for k, v in logs.items() if not np.isfinite(v)]
            if bad:
                raise TrainingDiverged(
                    f"{', '.join(bad)} became {logs[bad[0]]} at step {self.step + 1}; the last good "
                    f"checkpoint is kept in {self.run_dir} (lower the learning rates and --resume)"
                )
            self.step += 1
            self._emit("on_step_end", logs)
            if self.step % self.config.validate_every == 0 or self.step == self.total_steps:
                self.validate()
                validated_at = self.step
            if self.step % self.config.checkpoint_every == 0 and self.step < self.total_steps:
                self.save(estimate_norms=validated_at != self.step)
        self.save(estimate_norms=validated_at != self.step)
        self._emit("on_train_end", reason)
        return reason

    def _set_learning_rates(self) -> float:
        """Set every optimizer's rate for this step from the configured rates and schedule
        (a function of the step alone, so a resumed run follows the same curve)."""
        config = self.config
        factor = 1.0
        if config.lr_schedule == "cosine":
            floor = config.min_lr_fraction
            factor = floor + (1 - floor) * 0.5 * (
                1 + math.cos(math.pi * self.step / self.total_steps)
            )
        rates = {
            "generator": config.lr_generator,
            "discriminator": config.lr_discriminator,
            "projection_discriminators": config.lr_discriminator,
            "encoder": config.lr_encoder,
            "teacher": config.lr_encoder,
        }
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = rates[name] * factor
        return factor

    def _agreed_stop(self, should_stop: StopHook | None) -> bool:
        """True when any rank was asked to stop: every rank must leave at the same step, or
        the others would wait forever in the next collective."""
        stop = should_stop is not None and should_stop()
        if self.world_size > 1:
            flag = torch.tensor([float(stop)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    def _batch(self, step: int) -> dict[str, torch.Tensor]:
        epoch, index = divmod(step, self.steps_per_epoch)
        if self._epoch_order[0] != epoch:
            self.sampler.set_epoch(epoch)
            self._epoch_order = (epoch, list(self.sampler))
        size = self.config.batch_size
        indices = np.asarray(self._epoch_order[1][index * size : (index + 1) * size])
        data = self.train_data
        batch = {
            "voxels": torch.from_numpy(data.voxels[indices].astype(np.float32))[:, None],
            "labels": torch.from_numpy(data.labels[indices]),
        }
        if self.model_config.has_encoder:
            rng = np.random.default_rng([self.config.seed, step, self.rank, 1])
            available = data.views.shape[1]
            count = self.config.views
            if self.config.vary_views:
                count = int(rng.integers(1, count + 1))
            chosen = np.stack([rng.choice(available, count, replace=False) for _ in indices])
            views = data.views[indices[:, None], chosen]  # (B, V, S, S, 3)
            batch["views"] = torch.from_numpy(views.astype(np.float32) / 255.0).permute(
                0, 1, 4, 2, 3
            )
            if self.config.silhouette_weight > 0:  # each view's mask and camera
                masks = [[image_mask(view, SILHOUETTE_SIZE) for view in row] for row in views]
                batch["masks"] = torch.from_numpy(np.asarray(masks))  # (B, V, S', S')
                batch["cameras"] = torch.from_numpy(data.cameras[indices[:, None], chosen])
        return batch

    def _average_gradients(self, module: torch.nn.Module) -> None:
        if self.world_size > 1:
            for parameter in module.parameters():
                if parameter.grad is not None:
                    dist.all_reduce(parameter.grad)
                    parameter.grad /= self.world_size

    def _recon_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return reconstruction_loss(logits, target, self.config.recon_loss, self.config.dice_weight)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One update of the discriminators, then E and G; returns the step's losses and the
        discriminators' accuracies."""
        config, networks, device = self.config, self.networks, self.device
        torch.manual_seed(config.seed * 1_000_003 + self.step * 101 + self.rank)  # dropout
        generator = torch.Generator().manual_seed(config.seed * 7_919 + self.step * 31 + self.rank)
        real = batch["voxels"].to(device).contiguous(memory_format=torch.channels_last_3d)
        labels = batch["labels"].to(device) if self.model_config.conditional else None
        size = real.shape[0]

        def targets(value_range: tuple[float, float], exact: float) -> torch.Tensor:
            if not config.soft_labels:
                return torch.full((size,), exact, device=device)
            low, high = value_range
            return (torch.rand(size, generator=generator) * (high - low) + low).to(device)

        z = torch.randn(size, self.model_config.latent_dim, generator=generator).to(device)
        real_for_d = self.augmentation(real, generator) if self.augmentation.enabled else real
        views = batch.get("views")
        if views is not None:
            views = views.to(device)
            if config.image_augmentation:
                views = augment_images(views, generator)
            eps = torch.randn(
                size, views.shape[1], self.model_config.latent_dim, generator=generator
            )
        mixed_precision = autocast(device, self.autocast_dtype)
        bce = F.binary_cross_entropy_with_logits

        # Decode once: D learns from detached copies, then E and G from the same graph.
        logs: dict[str, float] = {}
        with mixed_precision:
            fake_logits = networks.generator(z, labels)  # (B, 1, R, R, R)
            if views is not None:
                means, log_variances = networks.encoder(views)  # (B, V, L) each
                means, log_variances = means.float(), log_variances.float()
                per_view = means + eps.to(device) * torch.exp(0.5 * log_variances)
                recon_logits = networks.generator(networks.encoder.pool(per_view), labels)

        # 1. discriminators, each against its own accuracy threshold
        shown = [
            (real_for_d, targets(config.real_label_range, 1.0)),
            (torch.sigmoid(fake_logits).detach(), targets(config.fake_label_range, 0.0)),
        ]
        if views is not None and config.recon_in_discriminator != "none":
            as_real = config.recon_in_discriminator == "real"
            recon_target = (
                targets(config.real_label_range, 1.0)
                if as_real
                else targets(config.fake_label_range, 0.0)
            )
            shown.append((torch.sigmoid(recon_logits).detach(), recon_target))
        updated_losses = []
        for judge in self.judges:
            network = getattr(networks, judge.name)
            with mixed_precision:
                scores = [network(voxels, labels).float() for voxels, _ in shown]  # (B[, A])
            loss = sum(
                bce(score, _like(target, score)) for score, (_, target) in zip(scores, shown)
            )
            accuracy_real = (scores[0] > 0).float().mean()
            accuracy_fake = (scores[1] < 0).float().mean()
            accuracy = torch.stack([accuracy_real, accuracy_fake]).mean().detach()
            if self.world_size > 1:
                dist.all_reduce(accuracy)  # every rank must take the same decision
                accuracy /= self.world_size
            threshold = config.d_accuracy_threshold
            update = threshold is None or accuracy.item() < threshold
            if update:
                updated_losses.append((judge, loss))
            logs.update(
                {
                    f"loss_{judge.tag}": loss.item(),
                    f"{judge.tag}_accuracy_real": accuracy_real.item(),
                    f"{judge.tag}_accuracy_fake": accuracy_fake.item(),
                    f"{judge.tag}_updated": float(update),
                }
            )
        if updated_losses:
            for judge, _ in updated_losses:
                self.optimizers[judge.name].zero_grad(set_to_none=True)
            sum(loss for _, loss in updated_losses).backward()
            for judge, _ in updated_losses:
                self._average_gradients(getattr(networks, judge.name))
                self.optimizers[judge.name].step()
            self.d_updates += 1

        def adversarial(voxels: torch.Tensor) -> torch.Tensor:
            """G's loss for making ``voxels`` look real to every discriminator."""
            loss = torch.zeros((), device=device)
            for judge in self.judges:
                scores = getattr(networks, judge.name)(voxels, labels).float()
                loss = loss + judge.weight * bce(scores, torch.ones_like(scores))
            return loss

        # 2. encoder and generator, against the updated discriminators
        with mixed_precision:
            loss_g = adversarial(torch.sigmoid(fake_logits))
            loss_e = torch.zeros((), device=device)
            if views is not None:
                kl = _kl_divergence(means, log_variances)
                loss_e = config.kl_weight * kl
                if not config.silhouettes_only:
                    recon = self._recon_loss(recon_logits, real)
                    loss_e = loss_e + config.recon_weight * recon
                    logs["recon"] = recon.item()
                if self.teacher is not None:
                    loss_e = loss_e + self._teacher_loss(real, labels, means, generator, logs)
                if config.ssim_weight > 0:
                    ssim = ssim3d_torch(torch.sigmoid(recon_logits.float()), real).mean()
                    loss_e = loss_e + config.ssim_weight * (1 - ssim)
                if config.silhouette_weight > 0:
                    silhouette = silhouette_loss(
                        torch.sigmoid(recon_logits.float())[:, 0],
                        batch["masks"].to(device),
                        batch["cameras"].to(device),
                    )
                    loss_e = loss_e + config.silhouette_weight * silhouette
                    logs["silhouette"] = silhouette.item()
                if config.recon_in_discriminator == "real":
                    # G learns to make reconstructions look real; E stays with KL + recon only.
                    latent_for_g = networks.encoder.pool(per_view).detach()
                    recon_for_g = networks.generator(latent_for_g, labels)
                    loss_g = loss_g + adversarial(torch.sigmoid(recon_for_g))
                with torch.no_grad():  # against the true shapes, even when never trained on them
                    iou_batch = iou(
                        torch.sigmoid(recon_logits.float()).cpu().numpy()[:, 0],
                        real.cpu().numpy()[:, 0],
                    )
                logs.update(kl=kl.item(), train_iou=float(np.mean(iou_batch)))
                if networks.encoder.classifier is not None:
                    class_logits = networks.encoder.classify(networks.encoder.pool(means))
                    loss_e = loss_e + config.classifier_weight * F.cross_entropy(
                        class_logits.float(), labels
                    )
                    accuracy_class = (class_logits.argmax(1) == labels).float().mean()
                    logs["class_accuracy"] = accuracy_class.item()
        for name in ("generator", "encoder", "teacher"):
            if name in self.optimizers:
                self.optimizers[name].zero_grad(set_to_none=True)
        (loss_g + loss_e).backward()
        self._average_gradients(networks.generator)
        self.optimizers["generator"].step()
        if networks.encoder is not None:
            self._average_gradients(networks.encoder)
            self.optimizers["encoder"].step()
        if self.teacher is not None:
            self._average_gradients(self.teacher)
            self.optimizers["teacher"].step()
        logs["loss_g"] = loss_g.item()
        if views is not None:
            logs["loss_e"] = loss_e.item()
        return logs

    def _teacher_loss(
        self,
        real: torch.Tensor,
        labels: torch.Tensor | None,
        image_means: torch.Tensor,
        generator: torch.Generator,
        logs: dict[str, float],
    ) -> torch.Tensor:
        """The voxel VAE's own loss (it and G autoencode the real shapes) plus the pull of
        every view's mean (B, V, L) toward the teacher's mean for its shape, held fixed."""
        config = self.config
        mean, log_variance = self.teacher(real)  # (B, L) each
        eps = torch.randn(mean.shape, generator=generator).to(self.device)
        latent = mean + eps * torch.exp(0.5 * log_variance)
        recon = self._recon_loss(self.networks.generator(latent, labels), real)
        match = F.mse_loss(image_means, mean.detach()[:, None].expand_as(image_means))
        logs.update(teacher_recon=recon.item(), latent_match=match.item())
        return (
            config.recon_weight * recon
            + config.kl_weight * _kl_divergence(mean, log_variance)
            + config.voxel_teacher_weight * match
        )

    # -- validation -----------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Sample diversity and, with an encoder, reconstruction quality on held-out shapes."""
        if not self.is_main:
            return {}
        networks, config = self.networks, self.config
        if networks.encoder is not None:
            self._recalibrate_encoder_norms()
        networks.eval()
        count = config.validation_samples
        class_count = len(self.train_data.class_names)
        sample_labels = torch.arange(count, device=self.device) % class_count
        labels = sample_labels if self.model_config.conditional else None
        z = torch.randn(
            count,
            self.model_config.latent_dim,
            generator=torch.Generator().manual_seed(config.seed),
        )
        samples = (
            torch.sigmoid(networks.generator(z.to(self.device), labels).float())[:, 0].cpu().numpy()
        )
        metrics = {
            "samples_mean_pairwise_iou": mean_pairwise_iou(samples),
            "samples_occupancy": float((samples > 0.5).mean()),
        }
        images = {"samples": samples[:8]}
        validation = self.validation_data
        if validation is not None and len(validation) > 1:
            if "data_pairwise_iou" not in self._validation_cache:
                reference = validation.voxels[:count]
                self._validation_cache["data_pairwise_iou"] = mean_pairwise_iou(reference)
            metrics["data_mean_pairwise_iou"] = self._validation_cache["data_pairwise_iou"]
            if self.model_config.has_encoder and validation.views is not None:
                metrics.update(self._validate_reconstruction(validation, images))
        networks.train()
        self.last_validation = {k: round(float(v), 5) for k, v in metrics.items()}
        self._emit("on_validation_end", metrics, images)
        return metrics

    def _recalibrate_encoder_norms(self, shapes: int = 256) -> None:
        """Re-estimate the encoder's BatchNorm statistics from a fixed sample of training
        views. Its running averages trail weights that Adam moves quickly, and that alone
        halved validation IoU in eval mode; a plain average over fresh activations (as
        ``torch.optim.swa_utils.update_bn`` does) matches the weights as they are now."""
        from torch.optim.swa_utils import update_bn

        data = self.train_data
        rng = np.random.default_rng([self.config.seed, 2])
        chosen = rng.choice(len(data), min(shapes, len(data)), replace=False)
        batches = []
        for start in range(0, len(chosen), 32):
            indices = np.sort(chosen[start : start + 32])
            views = data.views[indices][:, : self.model_config.num_views]
            batches.append(
                torch.from_numpy(views.astype(np.float32) / 255.0)
                .permute(0, 1, 4, 2, 3)
                .to(self.device)
            )
        with torch.no_grad():
            update_bn(batches, self.networks.encoder)

    def _validate_reconstruction(self, validation: TrainingData, images: dict) -> dict[str, float]:
        """IoU (at 0.5 and 0.4) and SSIM of reconstructions from the first ring views, with
        one view and with the model's number of views; class accuracy with a predictor."""
        metrics: dict[str, float] = {}
        view_counts = sorted({1, self.model_config.num_views})
        for views_used in view_counts:
            results, first = self._reconstruct_validation(validation, views_used)
            suffix = "" if views_used == view_counts[-1] else f"_{views_used}view"
            metrics.update({name + suffix: float(np.mean(v)) for name, v in results.items()})
        images["reconstructions"] = first
        images["targets"] = validation.voxels[:4].astype(np.float32)
        return metrics

    def _reconstruct_validation(
        self, validation: TrainingData, views_used: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per-shape metrics from ``views_used`` ring views, and the first 4 predictions."""
        networks = self.networks
        conditional = self.model_config.conditional
        results: dict[str, list[np.ndarray]] = {"iou": [], "iou@0.4": [], "ssim": []}
        for start in range(0, len(validation), 32):
            stop = min(start + 32, len(validation))
            views = validation.views[start:stop, :views_used]  # ring views, deterministic
            batch = (
                torch.from_numpy(views.astype(np.float32) / 255.0)
                .permute(0, 1, 4, 2, 3)
                .to(self.device)
            )
            means, _ = networks.encoder(batch)
            latents = networks.encoder.pool(means)
            labels = torch.from_numpy(validation.labels[start:stop]).to(self.device)
            if networks.encoder.classifier is not None:
                predicted = networks.encoder.classify(latents).argmax(1)
                results.setdefault("class_accuracy", []).append(
                    (predicted == labels).float().cpu().numpy()
                )
            recon = torch.sigmoid(networks.generator(latents, labels if conditional else None))
            prediction = recon.float()[:, 0].cpu().numpy()
            target = validation.voxels[start:stop].astype(np.float32)
            results["iou"].append(iou(prediction, target))
            results["iou@0.4"].append(iou(prediction, target, threshold=0.4))
            results["ssim"].append(
                ssim3d_torch(torch.from_numpy(prediction), torch.from_numpy(target)).numpy()
            )
            if start == 0:
                first = prediction[:4]
        return {name: np.concatenate(values) for name, values in results.items()}, first


def _like(target: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Per-shape targets (B,) repeated to the shape of ``scores`` (B,) or (B, A)."""
    return target.view(-1, *(1,) * (scores.ndim - 1)).expand_as(scores)


def _kl_divergence(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_variance)) || N(0, I)), summed over the latent, averaged over the rest."""
    return -0.5 * (1 + log_variance - mean**2 - log_variance.exp()).sum(-1).mean()
