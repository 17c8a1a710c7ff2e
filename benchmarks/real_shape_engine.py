"""An engine for benchmarks/bench_app.py: it decodes as the model does, then meshes a real
64^3 shape in place of the output of a 64^3 network that nobody has trained yet.

Imported by the engine process only (the GUI process stays free of torch).
"""

from __future__ import annotations

import time

import numpy as np
from bench_app import BEDS_64

from gan3d_studio.engine import Engine, surface_for_view
from gan3d_studio.session import ShapeResult


class RealShapeEngine(Engine):
    """Decodes as the model does, then meshes the next real 64^3 bed instead of its output."""

    def __init__(self) -> None:
        super().__init__()
        self.beds = np.load(BEDS_64)["voxels"]
        self.shapes_shown = 0

    def shape(self, state, view):
        start = time.perf_counter()
        self._require_model().decode(state.latent[None], labels=state.label)
        voxels = self.beds[self.shapes_shown % len(self.beds)].astype(np.float32)
        self.shapes_shown += 1
        vertices, faces, values, normals = surface_for_view(voxels, view)
        seconds = time.perf_counter() - start
        return ShapeResult(state, view, voxels, vertices, faces, values, normals, seconds)
