"""An inference-only form of :class:`VoxelGenerator` that runs faster on CPUs.

Exact rewrites, no approximation (outputs match the eager generator to float rounding):

- BatchNorm (eval statistics) is folded into the preceding ConvTranspose3d weight and bias;
- the first layer, a ConvTranspose3d on a 1^3 input, is a single matrix product;
- the 4^3 -> 8^3 layer runs ATen's GEMM-based transposed convolution: oneDNN's handles a
  4^3 input with hundreds of channels poorly, and a 64^3 paper-width decode on two cores
  takes about 17 ms less (60-69 -> 43-51 ms, interleaved runs); on larger grids oneDNN is
  the faster one (18 ms against 36 for the 16^3 layer), so the others stay on it;
- the last layer (many channels -> 1 at full resolution), which oneDNN's transposed
  convolution handles poorly, becomes a 2x2x2 Conv3d with 8 output channels, one per
  output parity, followed by a pixel shuffle ("sub-pixel convolution"); on grids up to
  32^3 ATen's GEMM-based transposed convolution is faster still (0.4 against 2.7 ms for
  the 16^3 -> 32^3 layer of the bundled model, one thread; its whole decode 12.5 -> 9.1 ms),
  but at 64^3 its input must first leave channels_last and the decode got slower (82 -> 95 ms);
- activations are channels_last_3d, the layout oneDNN's 3D kernels prefer.

bf16 was measured too and left out: on AVX512-BF16 CPUs without AMX it was slower here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan3d_core.models.generator import VoxelGenerator

# For a ConvTranspose3d with kernel 4, stride 2, padding 1: output 2m + parity reads the
# zero-padded input at positions m + parity and m + parity + 1, through kernel taps
# (3, 1) for parity 0 and (2, 0) for parity 1.
_PARITY_TAPS = {0: [3, 1], 1: [2, 0]}
# Grids up to this size run the last layer on ATen's transposed convolution.
ATEN_LAST_LAYER_MAX_RESOLUTION = 32


def _fold_batch_norm(
    weight: torch.Tensor, norm: nn.BatchNorm3d
) -> tuple[torch.Tensor, torch.Tensor]:
    """ConvTranspose3d weight (Cin, Cout, k, k, k) followed by eval BatchNorm -> (weight, bias)."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (Cout,)
    bias = norm.bias - norm.running_mean * scale
    return weight * scale.view(1, -1, 1, 1, 1), bias


def _sub_pixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """(Cin, Cout, 4, 4, 4) transposed-conv weight -> (8 * Cout, Cin, 2, 2, 2) conv weight."""
    blocks = []
    for px in (0, 1):
        for py in (0, 1):
            for pz in (0, 1):
                taps = weight[:, :, _PARITY_TAPS[px]][:, :, :, _PARITY_TAPS[py]][
                    :, :, :, :, _PARITY_TAPS[pz]
                ]
                blocks.append(taps.transpose(0, 1))  # (Cout, Cin, 2, 2, 2)
    return torch.cat(blocks, dim=0).contiguous()


class FastVoxelGenerator(nn.Module):
    """Eval-mode copy of a :class:`VoxelGenerator`; same inputs, same logits."""

    def __init__(self, generator: VoxelGenerator) -> None:
        super().__init__()
        if generator.config.residual_convs:
            raise ValueError("the fast generator rewrites the 3D-GAN layout, not residual stages")
        self.label_projection = generator.label_projection
        convs = [m for m in generator.layers if isinstance(m, nn.ConvTranspose3d)]
        norms = [m for m in generator.layers if isinstance(m, nn.BatchNorm3d)]
        with torch.no_grad():
            first_weight, first_bias = _fold_batch_norm(convs[0].weight, norms[0])
            self.first_channels = first_weight.shape[1]
            self.register_buffer("first_matrix", first_weight.flatten(1).contiguous())  # (L, C*64)
            self.register_buffer("first_bias", first_bias.repeat_interleave(64))  # (C*64,)
            second_weight, second_bias = _fold_batch_norm(convs[1].weight, norms[1])
            self.register_buffer("second_weight", second_weight.contiguous())
            self.register_buffer("second_bias", second_bias)
            self.hidden_weights = nn.ParameterList()
            self.hidden_biases = nn.ParameterList()
            for conv, norm in zip(convs[2:-1], norms[2:]):
                weight, bias = _fold_batch_norm(conv.weight, norm)
                weight = weight.contiguous(memory_format=torch.channels_last_3d)
                self.hidden_weights.append(nn.Parameter(weight, requires_grad=False))
                self.hidden_biases.append(nn.Parameter(bias, requires_grad=False))
            self.last_on_aten = generator.config.resolution <= ATEN_LAST_LAYER_MAX_RESOLUTION
            if self.last_on_aten:
                last = convs[-1].weight.contiguous()  # (Cin, 1, 4, 4, 4)
            else:
                last = _sub_pixel_weight(convs[-1].weight)
                last = last.contiguous(memory_format=torch.channels_last_3d)  # (8, Cin, 2, 2, 2)
            self.register_buffer("last_weight", last)
        self.eval()

    @torch.inference_mode()
    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_projection is not None:
            z = z * self.label_projection(labels, batch_size=z.shape[0])  # (B, L)
        batch = z.shape[0]
        x = torch.addmm(self.first_bias, z, self.first_matrix)  # (B, C*64)
        x = x.relu_().view(batch, self.first_channels, 4, 4, 4)
        x = torch.ops.aten.slow_conv_transpose3d(
            x, self.second_weight, (4, 4, 4), self.second_bias, (2, 2, 2), (1, 1, 1)
        ).relu_()
        x = x.contiguous(memory_format=torch.channels_last_3d)
        for weight, bias in zip(self.hidden_weights, self.hidden_biases):
            x = F.conv_transpose3d(x, weight, bias, stride=2, padding=1).relu_()
        if self.last_on_aten:
            return torch.ops.aten.slow_conv_transpose3d(
                x.contiguous(), self.last_weight, (4, 4, 4), None, (2, 2, 2), (1, 1, 1)
            )  # (B, 1, R, R, R) logits
        side = x.shape[-1]
        y = F.conv3d(x, self.last_weight, padding=1)  # (B, 8, s+1, s+1, s+1)
        out = y.new_empty(batch, 1, 2 * side, 2 * side, 2 * side)
        for index, (px, py, pz) in enumerate(
            (px, py, pz) for px in (0, 1) for py in (0, 1) for pz in (0, 1)
        ):
            out[:, 0, px::2, py::2, pz::2] = y[
                :, index, px : px + side, py : py + side, pz : pz + side
            ]
        return out  # (B, 1, R, R, R) logits
