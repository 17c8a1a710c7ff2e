"""The limits on what gan3d-studio reads and computes, with the reason for each.

Every limit is checked against what a file *declares* (a header, a size) before anything is
allocated, so a small hostile file cannot make a command take gigabytes or hang; the
README's "Limits" section lists them. A limit names the figure a user sees in the error.
"""

from __future__ import annotations

import operator

# -- grids ---------------------------------------------------------------------------------
# Largest side of a voxel grid read from a file (.binvox, .npy) or made by `gan3d voxelize`.
# 256^3 is 16.8 M voxels: 64 MiB as float32, and marching cubes needs about ten times that;
# the models work at 32^3 or 64^3 and ModelNet's .binvox files are 30^3 to 128^3.
MAX_GRID_SIDE = 256
MAX_GRID_VOXELS = MAX_GRID_SIDE**3
# Grids an implicit decoder is sampled on (`--surface-resolution`) span 8 to MAX_GRID_SIDE:
# 256^3 takes a few seconds and 64 MiB (it is queried in chunks of 65 k points).
MIN_SURFACE_RESOLUTION = 8
# A dataset (.npz 'voxels' (N, R, R, R) uint8): 1 GiB, e.g. 32 k shapes at 32^3 or 4 k at 64^3
# (ModelNet10 is 4.9 k shapes). Larger sets: a folder of files, which is read shape by shape.
MAX_DATASET_BYTES = 1 << 30
# An .npy/.npz array header is a Python literal of at most a few hundred bytes; numpy itself
# refuses headers over 10 kB by default.
MAX_NPY_HEADER_BYTES = 10_000

# -- seeds ---------------------------------------------------------------------------------
# The app's seed box and a session file's seed: a Qt spin box holds a signed 32-bit number.
MAX_SEED = 2**31 - 1

# -- images --------------------------------------------------------------------------------
# 25 megapixels (6124 x 4082): a 24 MP camera's photo; phones save 12 MP by default. The
# cut-out and background removal need about 30 bytes a pixel, so this stays under 1 GB.
# Pillow's own guard only warns at 89 MP and refuses at 179 MP.
MAX_IMAGE_PIXELS = 25_000_000
# Width to height (or height to width): a phone's panorama is up to about 10:1; past 50:1 a
# picture is a strip that holds no object to reconstruct.
MAX_IMAGE_ASPECT = 50
MIN_IMAGE_SIDE = 16  # pixels: smaller, no object can be told from its background
# Photos of one object passed to one reconstruction (the models see 1..num_views views).
MAX_VIEWS = 64

# -- meshes --------------------------------------------------------------------------------
# Mesh files: 64 MiB (a binary STL of 1.3 M triangles). Text (OBJ, OFF, ASCII PLY and STL)
# takes about 100 bytes of memory a byte to parse (a 20 MB OFF: 2.1 GB, 12 s), so text files
# stop at 16 MiB (about 1.7 GB; some 300 k triangles, plenty for a 64^3 grid).
MAX_MESH_FILE_BYTES = 64 << 20
MAX_TEXT_MESH_FILE_BYTES = 16 << 20
MAX_MESH_TRIANGLES = 2_000_000
# A 3MF is a zip of XML: its members may unpack to at most this much, as their headers say
# (reading stops there), so a small zip bomb is refused before it is unpacked. 128 MiB holds
# the 1.3 M triangles of a 64 MiB binary STL; reading that many takes about 5 s and 2.1 GB.
MAX_3MF_UNPACKED_BYTES = 2 * MAX_MESH_FILE_BYTES
# Voxelizing samples every triangle with a lattice of points 0.4 voxel apart, so the work
# grows with the triangles' area in voxels, i.e. with the resolution squared. 30 M points
# take about 3 s and are processed in chunks; a mesh of N triangles that each span the grid
# reaches it at about 30 M / (9.4 r^2) triangles (3 000 at -r 32, 760 at -r 64): see
# `gan3d_core.mesh.voxelize.surface_sample_count`.
MAX_SURFACE_SAMPLES = 30_000_000

# -- checkpoints ---------------------------------------------------------------------------
# A checkpoint file: 2 GiB; the bundled model is 38 MB, the paper's 64^3 VAE-GAN ~200 MB.
MAX_CHECKPOINT_BYTES = 2 << 30
# Its safetensors header (tensor table + model card): 16 MiB is ~1000x a real one.
MAX_CHECKPOINT_HEADER_BYTES = 16 << 20
# Parameters of the networks a checkpoint describes (checked on the config before any
# network is built): 150 M float32 is 600 MB; the paper's 64^3 VAE-GAN has ~60 M.
MAX_PARAMETERS = 150_000_000
# Model config fields: far above the papers (latent 200, widths <= 512, 10..40 classes).
MAX_LATENT_DIM = 4096
# A latent component's size: a Gaussian latent's are about unit size, the bundled staged
# model's autoencoder latents within about +-100 (sliders span +-3 of their spread); one
# past 10,000 only saturates the decoder, and near float32's limit (3e38) its square
# overflows in a norm and a slider's position overflows Qt's integers.
MAX_LATENT_ABS = 1e4
MAX_NUM_CLASSES = 1000
MAX_WIDTH = 4096
MAX_EMBEDDING_DIM = 4096
MAX_NUM_VIEWS = MAX_VIEWS
# Class names in a model card: short labels shown in menus.
MAX_CLASS_NAME_CHARS = 200

# -- JSON (model cards, --config, --metrics, sessions, run folders) ------------------------
# Real files nest 4 levels deep; Python's parser recurses and overflows near 1000.
MAX_JSON_DEPTH = 64
# A session holds a few hundred latents with thumbnails; a settings file is a few kB.
MAX_JSON_BYTES = 64 << 20

# -- commands ------------------------------------------------------------------------------
# Shapes one command decodes (`sample -n`, `interpolate --steps`): all are kept in memory
# until every file can be written, 1 MB each at 64^3. Run again with another --seed for more.
MAX_SHAPES = 500
# Latents one Python call draws (`GanModel.sample_latents`): a million of 128 float32 numbers
# are 0.5 GB; more is asked in several calls.
MAX_SAMPLED_LATENTS = 1_000_000
# Photos of `reconstruct --each`: one shape is held at a time, but every photo is read
# (and checked) before the model loads, a second or so each at 25 MP.
MAX_EACH_PHOTOS = 20_000
# ... and their voxels in all: 500 shapes at 64^3, 62 at 128^3 or 7 at 256^3 (0.5 GiB).
MAX_DECODED_VOXELS = MAX_SHAPES * 64**3
# Taubin smoothing passes (`--smooth`): each is a pass over the mesh; past ~50 a shape
# stops changing, so more is a typo.
MAX_SMOOTH_ITERATIONS = 100
# Taubin iterations when not told, alike in the app's view, its Export panel and gan3d's
# exports: two soften marching cubes' voxel steps and keep every detail
DEFAULT_SMOOTH_ITERATIONS = 2
# Faces between a filled and an empty voxel in a grid to be meshed: the mesh has about that
# many triangles (twice as many as blocks). A ball filling a 256^3 grid has 0.2 M; a
# 256^3 grid of noise has 25 M and took 16 GB and 90 s to export. At 1.9 M, noise took
# 2 GB and 34 s (smoothed, decimated); 1 M stays near 1 GB.
MAX_SURFACE_FACES = 1_000_000
# Silhouette-fitting steps of the staged model (`reconstruct --refine`): each costs about
# 50 ms per photo on a 2-core CPU and the fit stops improving well before 200.
MAX_REFINE_STEPS = 500
# Retrieved training shapes a fit may start from: each is decoded and has its cameras searched.
MAX_RETRIEVAL_CANDIDATES = 64
# Decimation target (`--faces`) and printed size (`--size-mm`, up to 10 m).
MAX_FACES = 10_000_000
MAX_SIZE_MM = 10_000.0
# the smallest size a mesh is scaled to: a hundredth of a millimetre, finer than any printer
MIN_SIZE_MM = 0.01
# Truncation (`--truncation T` redraws latent components beyond +-T): below 0.05 only one
# draw in 25 is kept and every shape is the mean shape.
MIN_TRUNCATION = 0.05


def check_decoded_shapes(shapes: int, resolution: int) -> None:
    """``shapes`` grids of ``resolution`` held at once (a batch, an interpolation's frames)
    within :data:`MAX_DECODED_VOXELS`, or a UsageError saying how many fit."""
    from gan3d_core.errors import UsageError

    if shapes * resolution**3 > MAX_DECODED_VOXELS:
        most = MAX_DECODED_VOXELS // resolution**3
        raise UsageError(
            f"{shapes} shapes at {resolution}^3 are over the limit of {most} at that "
            "resolution; make fewer at a time"
        )


def check_surface_resolution(resolution: object) -> int:
    """``resolution`` as a grid side an implicit decoder may be sampled on (the API, the
    command line and the app's view settings), or a UsageError."""
    from gan3d_core.errors import UsageError

    try:
        side = operator.index(resolution)  # ints and numpy ints; not 64.0
    except TypeError:
        side = None
    if side is None or not MIN_SURFACE_RESOLUTION <= side <= MAX_GRID_SIDE:
        raise UsageError(
            f"surface resolution must be a whole number from {MIN_SURFACE_RESOLUTION} to "
            f"{MAX_GRID_SIDE}, got {resolution!r}"
        )
    return side


# Test-time framings (a model card's inference.framing_shift) move a view by at most this
# share of its side.
MAX_FRAMING_SHIFT = 0.25
