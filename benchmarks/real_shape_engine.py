"""An engine for benchmarks/bench_app.py: it decodes as the model does, then meshes a real
64^3 shape in place of the output of a 64^3 network that nobody has trained yet.

Imported by the engine process only (the GUI process stays free of torch).
"""

from __future__ import annotations

import numpy as np
from bench_app import BEDS_64

from gan3d_studio.engine import Engine


class RealShapeEngine(Engine):
    """Decodes as the model does, then hands on the next real 64^3 bed instead of its output."""

    def __init__(self) -> None:
        super().__init__()
        self.beds = np.load(BEDS_64)["voxels"]
        self.shapes_shown = 0

    def decode(self, state, resolution=None):
        super().decode(state, resolution)  # the full cost of a 64^3 decode
        voxels = self.beds[self.shapes_shown % len(self.beds)].astype(np.float32)
        self.shapes_shown += 1
        return voxels
