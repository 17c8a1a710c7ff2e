"""Voxel datasets from ``.npz`` arrays, folders of ``.binvox`` files, folders of meshes and
ModelNet-style trees (``<class>/{train,test}/<shape>.off``).

Everything becomes one in-memory :class:`VoxelDataset`: uint8 (N, R, R, R) occupancy with
integer labels and class names. Meshes are voxelized once and cached on disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gan3d_core.errors import InputFileError, UsageError
from gan3d_core.io.atomic import check_input_file, write_npy_atomic
from gan3d_core.io.binvox import read_binvox
from gan3d_core.io.inputs import NUMERIC_KINDS, npz_member_names
from gan3d_core.io.inputs import load_npz as load_npz_arrays
from gan3d_core.io.kinds import (
    GLTF_SUFFIXES,
    GRID_SUFFIXES,
    MESH_SUFFIXES,
    SHAPE_SUFFIXES,
    refuse_latent_as_shape,
)
from gan3d_core.io.meshes import load_mesh
from gan3d_core.limits import MAX_DATASET_BYTES, MAX_GRID_SIDE, MAX_NUM_CLASSES
from gan3d_core.mesh.voxelize import voxelize_mesh
from gan3d_core.reprs import summary_repr
from gan3d_core.schema import class_name_problem, whole_number

ProgressHook = Callable[[float, str], None]
SPLITS = ("train", "test")


@dataclass
class VoxelDataset:
    """Shapes ``voxels`` uint8 (N, R, R, R) in {0, 1}, ``labels`` int64 (N,), class names."""

    voxels: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    source: str = ""
    files: list[str] = field(default_factory=list)
    skipped_empty: int = 0  # grids with no voxel at all, left out when loading

    __repr__ = summary_repr

    def __post_init__(self) -> None:
        if self.voxels.ndim != 4 or len(set(self.voxels.shape[1:])) != 1:
            raise ValueError(f"voxels must be (N, R, R, R), got shape {self.voxels.shape}")
        if self.labels.shape != (len(self.voxels),):
            raise ValueError(f"labels must be ({len(self.voxels)},), got {self.labels.shape}")
        if len(self.labels) and not 0 <= self.labels.min() <= self.labels.max() < len(
            self.class_names
        ):
            raise ValueError(f"labels must index the {len(self.class_names)} class names")

    def __len__(self) -> int:
        return len(self.voxels)

    @property
    def resolution(self) -> int:
        return self.voxels.shape[1]

    def subset(self, indices: np.ndarray) -> VoxelDataset:
        files = [self.files[i] for i in indices] if self.files else []
        return dataclasses.replace(
            self, voxels=self.voxels[indices], labels=self.labels[indices], files=files
        )

    def select_classes(self, names: list[str]) -> VoxelDataset:
        """Keep the named classes, relabelled 0..k-1 in the order given."""
        unknown = [n for n in names if n not in self.class_names]
        if unknown:
            raise InputFileError(
                f"{self.source}: no class {', '.join(unknown)}; it has {', '.join(self.class_names)}"
            )
        old_to_new = {self.class_names.index(n): i for i, n in enumerate(names)}
        keep = np.flatnonzero(np.isin(self.labels, list(old_to_new)))
        subset = self.subset(keep)
        subset.labels = np.array(
            [old_to_new[int(label)] for label in subset.labels], dtype=np.int64
        )
        subset.class_names = list(names)
        return subset

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}


def stratified_split(
    labels: np.ndarray, validation_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices with each class split in the same proportion.

    Every class with at least two shapes gives at least one to validation; the same seed
    and labels always give the same split.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise UsageError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = round(len(members) * validation_fraction)
        if validation_fraction > 0 and len(members) >= 2:
            count = max(count, 1)
        validation.append(members[:count])
        train.append(members[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(validation))


def stratified_limit(labels: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """Indices of exactly ``min(limit, N)`` shapes, keeping the class proportions.

    Each class gets the floor of its share; the shapes left over go to the classes with
    the largest remainders (Hamilton's method), so no class rounding loses shapes.
    """
    if limit >= len(labels):
        return np.arange(len(labels))
    if limit < 1:
        raise UsageError(f"limit must be >= 1, got {limit}")
    classes, counts = np.unique(labels, return_counts=True)
    shares = counts * limit / len(labels)
    quota = np.floor(shares).astype(int)
    for index in np.argsort(-(shares - quota), kind="stable")[: limit - quota.sum()]:
        quota[index] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.permutation(np.flatnonzero(labels == label))[:take]
        for label, take in zip(classes, quota)
    ]
    return np.sort(np.concatenate(chosen))


def shapes_digest(splits) -> str:
    """SHA-256 of datasets' grids (as 0/1 bytes), classes (as int64) and class names, in
    order: which shapes a run trained and validated on (its card keeps it); the same
    shapes saved another way (int32 labels, a bool grid) give the same digest."""
    digest = hashlib.sha256()
    for split in (split for split in splits if split is not None):  # a run may hold none out
        voxels, labels = np.asarray(split.voxels), np.asarray(split.labels, np.int64)
        digest.update(f"{voxels.shape}{labels.shape}".encode())
        for start in range(0, len(voxels), 256):  # in chunks: no copy of a whole dataset
            digest.update(np.ascontiguousarray(voxels[start : start + 256] > 0).view(np.uint8))
        digest.update(np.ascontiguousarray(labels).view(np.uint8))
        digest.update(json.dumps(list(split.class_names)).encode())
    return digest.hexdigest()


def split_dataset(
    dataset: VoxelDataset,
    classes: list[str] | None = None,
    limit: int | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[VoxelDataset, VoxelDataset]:
    """The training and validation sets a run uses: chosen classes, at most ``limit``
    shapes (class proportions kept), then a stratified split. Training and evaluation both
    call this, so ``gan3d eval --subset validation`` sees exactly the held-out shapes."""
    if classes:
        dataset = dataset.select_classes(list(classes))
    if limit is not None:
        dataset = dataset.subset(stratified_limit(dataset.labels, limit, seed))
    train_index, validation_index = stratified_split(dataset.labels, validation_fraction, seed)
    return dataset.subset(train_index), dataset.subset(validation_index)


# -- loading ------------------------------------------------------------------------------


def load_dataset(
    path: str | os.PathLike,
    resolution: int | None = None,
    split: str = "train",
    cache_dir: str | os.PathLike | None = None,
    progress: ProgressHook | None = None,
    up: str = "auto",
) -> VoxelDataset:
    """Load shapes from ``path``: an ``.npz`` file, or a folder of ``.binvox`` / mesh files
    (``up``: their up axis, as :func:`file_up_axis` reads it; y turns ShapeNet's upright).

    Folders: a ModelNet-style tree ``<class>/{train,test}/*`` gives the ``split`` asked
    for; otherwise each immediate sub-folder is a class (or the folder itself, when files
    sit directly in it). Meshes are voxelized at ``resolution`` (default 32) and cached in
    ``cache_dir`` (default ``~/.cache/gan3d/voxels``). Grids whose resolution is a whole
    multiple of ``resolution`` are brought down to it (a voxel is set if any voxel it
    covers is): an ``.npz``'s all together, a folder's file by file; others are refused.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: no such dataset file or folder")
    if not path.is_dir():
        path = check_input_file(path, "dataset file")  # a FIFO or device is refused here
        if path.suffix.lower() != ".npz":
            raise InputFileError(
                f"{path}: a dataset file must be .npz (voxels, labels, class_names)"
            )
        if up == "y":  # z (what it is) is harmless
            raise UsageError(f"{path}: an .npz's grids are z up already; --up is for folders")
        dataset = load_npz(path)
    else:
        file_up_axis(path, up)  # a wrong up axis is refused before any file is read
        dataset = _load_folder(path, resolution, split, cache_dir, progress, up)
    if resolution is not None and dataset.resolution != resolution:
        dataset.voxels = downsample(dataset.voxels, resolution, source=str(path))
    dataset = _without_empty_shapes(dataset)
    if len(dataset) == 0:
        raise InputFileError(f"{path}: every shape is empty ({dataset.skipped_empty} grids)")
    return dataset


def _without_empty_shapes(dataset: VoxelDataset) -> VoxelDataset:
    """Leave out grids with no voxel (ModelNet10's 32^3 release has 27): an empty "real"
    shape teaches D nothing useful and scores IoU 1 against an empty prediction."""
    filled = dataset.voxels.reshape(len(dataset), -1).any(axis=1)
    if filled.all():
        return dataset
    kept = dataset.subset(np.flatnonzero(filled))
    kept.skipped_empty = dataset.skipped_empty + int((~filled).sum())
    return kept


def load_npz(path: str | os.PathLike) -> VoxelDataset:
    """``voxels`` (N, R, R, R), optional ``labels`` (N,) and ``class_names``."""
    path = check_input_file(path, "dataset file")
    # Every array's declared size is checked before it is decompressed; labels are integers,
    # class names text.
    kinds = {"voxels": NUMERIC_KINDS, "labels": "iu", "class_names": "U"}
    arrays = load_npz_arrays(path, kinds, MAX_DATASET_BYTES, "dataset file")
    if "voxels" not in arrays:
        found = ", ".join(npz_member_names(path)) or "none"
        raise InputFileError(f"{path}: has no 'voxels' array (found {found})")
    voxels = arrays["voxels"]
    if voxels.ndim != 4 or len(set(voxels.shape[1:])) != 1:
        raise InputFileError(f"{path}: 'voxels' must be (N, R, R, R), got shape {voxels.shape}")
    if voxels.shape[1] > MAX_GRID_SIDE:
        raise InputFileError(
            f"{path}: grids of {voxels.shape[1]}^3 are over the limit of {MAX_GRID_SIDE} a side"
        )
    if len(voxels) == 0:
        raise InputFileError(f"{path}: 'voxels' holds no shapes")
    if voxels.dtype.kind == "f" and not np.isfinite(voxels).all():
        raise InputFileError(f"{path}: 'voxels' holds NaN or infinite values")
    if "labels" in arrays and arrays["labels"].shape != (len(voxels),):
        raise InputFileError(
            f"{path}: 'labels' must be ({len(voxels)},), got shape {arrays['labels'].shape}"
        )
    if "class_names" in arrays and (
        arrays["class_names"].ndim != 1 or len(arrays["class_names"]) > MAX_NUM_CLASSES
    ):
        raise InputFileError(
            f"{path}: 'class_names' must be a list of at most {MAX_NUM_CLASSES} names"
        )
    voxels = (
        (voxels > 0.5).astype(np.uint8)
        if voxels.dtype.kind == "f"
        else (voxels > 0).astype(np.uint8)
    )
    labels = arrays.get("labels", np.zeros(len(voxels), np.int64)).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= MAX_NUM_CLASSES):
        raise InputFileError(f"{path}: 'labels' must be class indices 0..{MAX_NUM_CLASSES - 1}")
    if "class_names" in arrays:
        class_names = [str(n) for n in arrays["class_names"]]
        repeated = sorted({name for name in class_names if class_names.count(name) > 1})
        if repeated:  # a model's card names each class once
            raise InputFileError(f"{path}: 'class_names' repeats {', '.join(repeated[:5])}")
        for name in class_names:  # they become a model's, and parts of file names
            problem = class_name_problem(name) or (None if name else "is empty")
            if problem:
                raise InputFileError(f"{path}: class name {name!r} {problem}")
    else:
        class_names = [f"class_{i}" for i in range(int(labels.max(initial=0)) + 1)]
    try:
        return VoxelDataset(voxels, labels, class_names, str(path))
    except ValueError as exc:
        raise InputFileError(f"{path}: {exc}") from None


def downsample(voxels: np.ndarray, resolution: int, source: str = "") -> np.ndarray:
    """(N, R, R, R) -> (N, r, r, r) by any-pooling, for R an integer multiple of r."""
    size = voxels.shape[1]
    if size % resolution:
        raise InputFileError(
            f"{source}: grids are {size}^3 and cannot be resampled to {resolution}^3"
        )
    factor = size // resolution
    blocks = voxels.reshape(len(voxels), resolution, factor, resolution, factor, resolution, factor)
    return blocks.max(axis=(2, 4, 6)).astype(np.uint8)


def resample_grid(grid: np.ndarray, resolution: int) -> np.ndarray:
    """One grid (X, Y, Z) -> (R, R, R): padded to a cube about its centre, then resampled
    by any-pooling (a voxel is set if any voxel it covers is; nearest when enlarging),
    which keeps one-voxel legs that averaging would lose. uint8."""
    side = max(grid.shape)
    pads = [((side - n) // 2, side - n - (side - n) // 2) for n in grid.shape]
    cube = np.pad(np.asarray(grid) > 0.5, pads)
    starts = (np.arange(resolution) * side) // resolution
    for axis in range(3):
        cube = np.maximum.reduceat(cube, starts, axis=axis)
    return cube.astype(np.uint8)


def y_up_to_z_up(grid: np.ndarray) -> np.ndarray:
    """A grid with y up (ShapeNet's) -> ours, z up: the rotation (x, y, z) -> (-x, z, y),
    chosen as the one under which the mean ShapeNet chair overlaps the mean ModelNet10
    chair most (their fronts then face alike): :data:`SHAPENET_Y_UP_TO_Z_UP`."""
    return np.ascontiguousarray(np.flip(grid.transpose(0, 2, 1), axis=0))


def z_up_to_y_up(grid: np.ndarray) -> np.ndarray:
    """The inverse of :func:`y_up_to_z_up`: a grid in our axes back into a y-up file's."""
    return np.ascontiguousarray(np.flip(grid, axis=0).transpose(0, 2, 1))


def _gltf_y_up_to_z_up(grid: np.ndarray) -> np.ndarray:
    """:data:`GLTF_Y_UP_TO_Z_UP` on a grid."""
    return np.ascontiguousarray(np.flip(grid.transpose(0, 2, 1), axis=1))


def _gltf_z_up_to_y_up(grid: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.flip(grid, axis=1).transpose(0, 2, 1))


# Two files both y up can face opposite ways. glTF is turned as Blender's importer turns it,
# (x, y, z) -> (x, -z, y), so a shape goes from gan3d through Blender and back (as glTF) the
# same way round; every other y-up file as ShapeNet's, whose chairs then face ModelNet's.
GLTF_Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float)
SHAPENET_Y_UP_TO_Z_UP = np.array([[-1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float)


def _is_gltf(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in GLTF_SUFFIXES


def turned_other_up(grid: np.ndarray, up: str, path: str | os.PathLike) -> np.ndarray:
    """``grid``, read from the file at ``path`` as ``up`` ("z" or "y") up, as it would read
    the other way up (see :func:`file_up_axis`)."""
    if _is_gltf(path):
        return _gltf_y_up_to_z_up(grid) if up == "z" else _gltf_z_up_to_y_up(grid)
    return y_up_to_z_up(grid) if up == "z" else z_up_to_y_up(grid)


def file_up_axis(path: str | os.PathLike, up: str = "auto") -> str:
    """The up axis, "z" or "y", of the shape file at ``path``: ``up`` itself, or for
    ``auto`` y for glTF (its specification's) and z for the rest (ModelNet, binvox, STL,
    3MF). One rule for every command that reads shapes; how a y-up file turns:
    :data:`GLTF_Y_UP_TO_Z_UP`, :data:`SHAPENET_Y_UP_TO_Z_UP`."""
    if up not in ("auto", "z", "y"):
        raise UsageError(f"up axis must be auto, z or y, got {up!r}")
    if up != "auto":
        return up
    return "y" if _is_gltf(path) else "z"


def load_mesh_z_up(path: str | os.PathLike, up: str = "auto"):
    """The mesh file at ``path`` (a ``trimesh.Trimesh``) in our axes, z up."""
    mesh = load_mesh(path)
    if file_up_axis(path, up) == "y":
        mesh.apply_transform(GLTF_Y_UP_TO_Z_UP if _is_gltf(path) else SHAPENET_Y_UP_TO_Z_UP)
    return mesh


def load_grid_z_up(path: str | os.PathLike, up: str = "auto") -> np.ndarray:
    """The grid file (.binvox, .npy) at ``path`` at its own resolution, in our axes (z
    up): ``up`` y turns it as ShapeNet's (see :func:`file_up_axis`)."""
    from gan3d_core.io.voxels import load_voxels

    axis = file_up_axis(path, up)  # a wrong up axis is refused before the file is read
    grid = load_voxels(path)
    return y_up_to_z_up(grid) if axis == "y" else grid


def load_shape_grid(path: str | os.PathLike, resolution: int, up: str = "auto") -> np.ndarray:
    """One shape file -> uint8 (R, R, R) in our axis order (z up): a grid (.binvox, .npy)
    resampled to ``resolution``, or a mesh voxelized to fill it (its longest side spans
    the grid, as the ModelNet training shapes do). ``up``: the file's up axis, z or y;
    ``auto``: y for glTF (its specification's), z for the rest (ModelNet, binvox, STL)."""

    file_up_axis(path, up)  # a wrong up axis is refused before any work
    resolution = whole_number("resolution", resolution, 4, MAX_GRID_SIDE)
    path = check_input_file(path, "shape file")
    refuse_latent_as_shape(path)
    if path.suffix.lower() in GRID_SUFFIXES:
        grid = load_grid_z_up(path, up)
        if not (grid > 0.5).any():
            raise InputFileError(f"{path}: grid has no occupied voxel (none above 0.5)")
        return resample_grid(grid, resolution)
    if path.suffix.lower() in MESH_SUFFIXES:
        # turned before it is voxelized, so the grid does not depend on the file's axes
        mesh = load_mesh_z_up(path, up)
        try:
            return voxelize_mesh(mesh, resolution).astype(np.uint8)
        except UsageError as exc:
            raise InputFileError(f"{path}: {exc}") from None
    raise InputFileError(
        f"{path}: not a shape file ({' '.join(SHAPE_SUFFIXES)}), got {path.suffix or '(none)'}"
    )


# ShapeNet names each model by a 32-digit hexadecimal id (its .binvox, or the folder of its
# OBJ): a folder of such files is most likely y up
SHAPENET_ID = re.compile(r"[0-9a-f]{32}")


def looks_like_shapenet(folder: str | os.PathLike) -> bool:
    """Whether most shape files in ``folder`` (the first 200) carry a ShapeNet model id in
    their path: files that are y up, which a z-up reading lays on their sides."""
    root = Path(folder)
    if not root.is_dir():
        return False
    files = _shape_files(root)[:200]
    named = sum(
        any(SHAPENET_ID.fullmatch(part) for part in f.relative_to(root).with_suffix("").parts)
        for f in files
    )  # fmt: skip
    return bool(files) and named > len(files) / 2


def _shape_files(root: Path) -> list[Path]:
    suffixes = (".binvox", *MESH_SUFFIXES)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def _class_of(file: Path, root: Path, split: str) -> str | None:
    """Class name of ``file`` under ``root``, or None when it is in another split."""
    parts = file.relative_to(root).parts
    if len(parts) >= 3 and parts[1] in SPLITS:  # <class>/<split>/<file>
        return parts[0] if parts[1] == split else None
    if len(parts) >= 2 and parts[0] in SPLITS:  # one class's folder: <split>/<file>
        return root.name if parts[0] == split else None
    return parts[0] if len(parts) >= 2 else root.name


def _load_folder(
    root: Path, resolution: int | None, split: str, cache_dir, progress, up: str
) -> VoxelDataset:
    """The folder's shapes: meshes voxelized at ``resolution`` (32 when None), grids of a
    whole multiple of it brought down to it one by one (a folder may mix 32^3 and 64^3
    files); other grids must all be of one size."""
    if split not in SPLITS:
        raise InputFileError(f"split must be train or test, got {split!r}")
    shape_files = _shape_files(root)
    files = [(f, c) for f in shape_files if (c := _class_of(f, root, split)) is not None]
    if not files:
        raise InputFileError(f"{root}: no .binvox or mesh files found (for split {split!r})")
    loose = [f for f in shape_files if f.parent == root]
    if loose and len(loose) < len(shape_files):  # it would make a class named after root
        raise InputFileError(
            f"{loose[0]}: a shape file beside the class folders; move it into its class's "
            "folder (a folder's name is its shapes' class)"
        )
    cache = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "gan3d" / "voxels"
    class_names = sorted({c for _, c in files})
    for name in class_names:  # a folder's name, e.g. one holding a newline
        problem = class_name_problem(name)
        if problem:
            raise InputFileError(f"{root}: class folder {name!r} {problem}")
    grids, labels = [], []
    for index, (file, class_name) in enumerate(files):
        if file.suffix.lower() == ".binvox":
            grid = read_binvox(file).voxels
            grid = y_up_to_z_up(grid) if file_up_axis(file, up) == "y" else grid
            side = grid.shape[0]
            if (
                resolution
                and grid.shape == (side,) * 3
                and side > resolution
                and side % resolution == 0
            ):
                grid = resample_grid(grid, resolution)  # a 64^3 file among 32^3 ones
        else:
            grid = _voxelize_cached(file, resolution or 32, cache, file_up_axis(file, up))
        if len(set(grid.shape)) != 1:  # the models train on cubes (gan3d encode pads others)
            side = "x".join(str(n) for n in grid.shape)
            raise InputFileError(f"{file}: grid is {side}, not a cube; training takes R^3 grids")
        if grids and grid.shape != grids[0].shape:
            raise InputFileError(f"{file}: grid is {grid.shape}, others are {grids[0].shape}")
        grids.append(grid.astype(np.uint8))
        labels.append(class_names.index(class_name))
        if progress is not None:
            progress((index + 1) / len(files), file.name)
    return VoxelDataset(
        np.stack(grids),
        np.array(labels, np.int64),
        class_names,
        str(root),
        [str(f) for f, _ in files],
    )


# in the cache key: grids voxelized before a change to voxelize_mesh are made again
VOXELIZER_VERSION = 3


def _voxelize_cached(file: Path, resolution: int, cache: Path, up: str) -> np.ndarray:
    """Voxelize a mesh whose up axis is ``up`` (z or y), reusing the cached grid while the
    file is unchanged."""
    stat = file.stat()
    key = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{resolution}|{VOXELIZER_VERSION}"
    key += "" if up == "z" else f"|{up} up"  # the grids cached before --up keep their keys
    cached = cache / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"
    if cached.is_file():
        try:
            packed = np.load(cached, allow_pickle=False)
            return np.unpackbits(packed)[: resolution**3].reshape((resolution,) * 3).astype(bool)
        except (ValueError, OSError):
            cached.unlink(missing_ok=True)  # a damaged cache entry is rebuilt
    try:
        grid = voxelize_mesh(load_mesh_z_up(file, up), resolution)
    except UsageError as exc:
        raise InputFileError(f"{file}: {exc}") from None
    cache.mkdir(parents=True, exist_ok=True)
    write_npy_atomic(cached, np.packbits(grid.ravel()))
    return grid
