"""Meshes -> solid grids: every format, holes, the ModelNet OFF header quirk, real meshes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from gan3d_core import InputFileError, UsageError, load_mesh, voxelize_mesh
from gan3d_core.metrics import iou


def box_mesh(extents=(2.0, 1.0, 1.0)) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents)


def test_box_fills_solid_spanning_the_grid_or_inside_a_margin():
    assert voxelize_mesh(box_mesh((2.0, 2.0, 2.0)), resolution=16).all()  # as ModelNet's grids
    grid = voxelize_mesh(box_mesh((2.0, 2.0, 2.0)), resolution=16, margin=1)
    expected = np.zeros((16, 16, 16), bool)
    expected[1:15, 1:15, 1:15] = True
    assert np.array_equal(grid, expected)


def test_aspect_ratio_is_kept_and_centred():
    grid = voxelize_mesh(box_mesh((2.0, 1.0, 1.0)), resolution=18, margin=1)
    xs, ys, zs = (np.flatnonzero(grid.any(axis=a)) for a in [(1, 2), (0, 2), (0, 1)])
    assert (xs.min(), xs.max()) == (1, 16)  # 16 voxels along the long axis
    assert (ys.min(), ys.max()) == (5, 12)  # 8 voxels, centred
    assert (zs.min(), zs.max()) == (5, 12)


def test_a_mesh_in_tiny_units_voxelizes_as_the_same_mesh_in_metres():
    """Audit: a mesh 1e-8 across was merged into one point (one voxel); one of subnormal
    size raised ZeroDivisionError deep in the sampling."""
    chair = trimesh.creation.annulus(r_min=0.5, r_max=1.0, height=2.0)
    expected = voxelize_mesh(chair, resolution=16)
    tiny = chair.copy()
    tiny.apply_scale(1e-12)
    assert np.array_equal(voxelize_mesh(tiny, resolution=16), expected)
    subnormal = box_mesh((2.0, 2.0, 2.0))
    subnormal.vertices *= 1e-320 / 2.0
    with pytest.raises(UsageError, match=r"cannot voxelize a mesh this small \(extent 1e-320\)"):
        voxelize_mesh(subnormal, resolution=16)


def test_mesh_with_cracks_is_still_filled():
    mesh = box_mesh((2.0, 2.0, 2.0)).subdivide_to_size(0.05)
    on_top = np.flatnonzero(mesh.triangles_center[:, 2] > 0.99)
    cracked = trimesh.Trimesh(mesh.vertices, np.delete(mesh.faces, on_top[::7], axis=0))
    assert not cracked.is_watertight
    assert np.array_equal(voxelize_mesh(cracked, 16), voxelize_mesh(box_mesh((2.0, 2.0, 2.0)), 16))


def test_open_cup_stays_open_like_binvox_carving():
    mesh = box_mesh((2.0, 2.0, 2.0))
    top = np.flatnonzero(mesh.triangles_center[:, 2] > 0.99)
    cup = trimesh.Trimesh(mesh.vertices, np.delete(mesh.faces, top, axis=0))
    grid = voxelize_mesh(cup, resolution=16)
    assert grid[0, :, :].all() and grid[:, :, 0].all()  # walls and floor
    assert not grid[1:15, 1:15, 1:].any()  # the inside is visible from above


@pytest.mark.parametrize("suffix", [".obj", ".stl", ".ply", ".glb", ".off"])
def test_every_format_gives_the_same_grid(tmp_path, suffix):
    mesh = trimesh.creation.annulus(r_min=0.5, r_max=1.0, height=0.6)
    path = tmp_path / f"ring{suffix}"
    data = mesh.export(file_type=suffix[1:])
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    grid = voxelize_mesh(load_mesh(path), resolution=24)
    reference = voxelize_mesh(mesh, resolution=24)
    assert iou(grid, reference) == 1.0
    assert not grid[12, 12, 12]  # the hole of the ring stays empty


def test_off_with_counts_on_the_header_line(tmp_path):
    mesh = box_mesh()
    text = mesh.export(file_type="off")
    lines = text.splitlines()
    assert lines[0] == "OFF"
    glued = tmp_path / "glued.off"
    glued.write_text("OFF" + "\n".join(lines[1:]) + "\n")  # "OFF8 12 0" as in ModelNet
    assert glued.read_text().startswith("OFF8 12 0")
    assert len(load_mesh(glued).faces) == 12


def test_a_large_text_mesh_is_refused_before_parsing_a_binary_one_of_its_size_is_not(tmp_path):
    """Audit: a 20 MB OFF took 2.1 GB and 12 s to parse; 64 MiB would take 6 GB."""
    from gan3d_core.io.meshes import _is_text_mesh

    big = tmp_path / "big.obj"
    big.write_bytes(b"v 0.000001 0.000002 0.000003\n" * 600_000 + b"f 1 2 3\n")  # 17.4 MB
    with pytest.raises(
        InputFileError,
        match=r"big\.obj: a text mesh of 17\.4 MB is over the "
        r"limit of 16 MiB .* save it as binary STL",
    ):
        load_mesh(big)
    binary = box_mesh().export(file_type="stl")
    assert not _is_text_mesh(".stl", binary)
    assert _is_text_mesh(".stl", box_mesh().export(file_type="stl_ascii").encode())
    assert _is_text_mesh(".ply", box_mesh().export(file_type="ply", encoding="ascii"))
    assert not _is_text_mesh(".ply", box_mesh().export(file_type="ply"))


def test_a_cut_binary_stl_and_a_gltf_with_outside_buffers_are_named_for_what_they_are(tmp_path):
    """Audit: both said 'mesh has no triangles' or "'NoneType' object is not subscriptable"."""
    binary = box_mesh().export(file_type="stl")
    cut = tmp_path / "cut.stl"
    cut.write_bytes(binary[:-50])
    with pytest.raises(
        InputFileError,
        match=r"cut\.stl: binary STL declares 12 triangles but "
        r"holds 11; it is cut short or corrupt",
    ):
        load_mesh(cut)
    separate = tmp_path / "scene.gltf"  # Blender's "glTF Separate"
    separate.write_text('{"asset": {"version": "2.0"}, "buffers": [{"uri": "scene.bin"}]}')
    with pytest.raises(
        InputFileError,
        match=r"scene\.gltf: its buffers are other files "
        r"\('scene\.bin'\); .* export \.glb",
    ):
        load_mesh(separate)


def test_bad_mesh_files(tmp_path):
    nan_mesh = tmp_path / "nan.off"
    nan_mesh.write_text("OFF\n3 1 0\n0 0 0\nnan 1 0\n0 1 1\n3 0 1 2\n")
    with pytest.raises(InputFileError, match=r"nan\.off: mesh has NaN"):
        load_mesh(nan_mesh)
    (tmp_path / "x.fbx").write_text("x")
    with pytest.raises(InputFileError, match=r"unsupported mesh format \.fbx"):
        load_mesh(tmp_path / "x.fbx")
    (tmp_path / "junk.stl").write_bytes(b"\x00\x01garbage")
    with pytest.raises(InputFileError, match=r"junk\.stl: "):
        load_mesh(tmp_path / "junk.stl")
    with pytest.raises(InputFileError, match="is a directory"):
        load_mesh(tmp_path)
    zero = tmp_path / "zero.obj"  # trimesh read vertex 0 as another one
    zero.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 0/1 2/1 3/1\n")
    with pytest.raises(InputFileError, match=r"zero\.obj: line 5: a face names vertex 0"):
        load_mesh(zero)
    zero.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3 \nf -1 -2 -3\n")  # relative: fine
    assert len(load_mesh(zero).faces) == 2


def test_a_glb_cut_short_is_named_as_one(tmp_path):
    data = box_mesh().export(file_type="glb")
    (tmp_path / "half.glb").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"half\.glb: cut short: its header says [\d,]+ bytes"):
        load_mesh(tmp_path / "half.glb")
    (tmp_path / "text.glb").write_bytes(b'{"asset": {"version": "2.0"}}')
    with pytest.raises(InputFileError, match="not a GLB file"):
        load_mesh(tmp_path / "text.glb")


def test_real_modelnet_meshes(shared_data):
    meshes = sorted((shared_data / "meshes").glob("*/*.off"))
    assert len(meshes) == 14
    for path in meshes:
        grid = voxelize_mesh(load_mesh(path), resolution=32)
        filled = np.argwhere(grid)
        extent = filled.max(axis=0) - filled.min(axis=0) + 1
        assert extent.max() == 32, path.name  # the longest side spans the grid
        assert 0.005 < grid.mean() < 0.6, path.name


def test_a_mesh_naming_a_named_pipe_as_its_material_file_loads_without_opening_it(tmp_path):
    """trimesh would open an OBJ's `mtllib` and block on a FIFO: meshes load from bytes."""
    import os

    os.mkfifo(tmp_path / "pipe.mtl")
    path = tmp_path / "mesh.obj"
    path.write_text(
        "mtllib pipe.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n"
        "usemtl a\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    )
    assert len(load_mesh(path).faces) == 4


@pytest.mark.parametrize("suffix", [".stl", ".3mf"])
def test_our_exports_of_a_grid_spanning_it_read_back_voxel_for_voxel(tmp_path, shared_data, suffix):
    """Every part grew by a voxel: a surface on a voxel boundary counted for the voxel
    outside it (the STL's unjoined corners, and smoothing's small moves, kept it there)."""
    from gan3d_core import ExportOptions, export_shape
    from gan3d_core.data.datasets import load_shape_grid

    bench = load_shape_grid(shared_data / "binvox" / "r2n2_shapenet_model.binvox", 32)
    blocks = export_shape(bench, tmp_path / f"bench{suffix}", ExportOptions(style="blocks"))
    read = voxelize_mesh(load_mesh(blocks), 34, margin=1)  # its 32 voxels in 34 less margins
    assert read.sum() == bench.sum() and iou(read[1:33, 1:33, 1:33], bench > 0) == 1.0
    cup = np.zeros((32, 32, 32), np.float32)  # an open box with walls two voxels thick
    cup[4:28, 4:28, 1:31] = 1
    cup[6:26, 6:26, 3:31] = 0
    counts = [  # 30 voxels tall, in 32 less the margins: read back at its own size
        voxelize_mesh(
            load_mesh(export_shape(cup, tmp_path / f"cup{n}{suffix}", options)), 32, margin=1
        ).sum()
        for n, options in enumerate((ExportOptions(smooth_iterations=0), ExportOptions()))
    ]
    assert counts[0] == counts[1] < 1.05 * cup.sum()  # smoothing moves no wall a voxel
