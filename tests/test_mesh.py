"""Occupancy -> meshes and files: exact volumes, watertightness, formats re-read by trimesh."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace

import numpy as np
import pytest
import trimesh

from gan3d_core import EmptyShapeError, ExportOptions, export_shape, load_voxels
from gan3d_core.errors import OutputFileError, UsageError
from gan3d_core.io.meshes import load_mesh
from gan3d_core.mesh import (
    fit_to_size,
    vertex_normals,
    voxels_to_cubes,
    voxels_to_mesh,
    write_shape,
)
from tests.conftest import box_grid


def marching_cubes_box_volume(a: int, b: int, c: int) -> float:
    """Volume of the 0.5 iso-surface of a solid a x b x c voxel box, cell by cell.

    Inner cells count 1, face cells 1/2, edge cells 1/8 (a prism with legs 1/2), the 8
    corner cells 1/48 (a tetrahedron with legs 1/2).
    """
    faces = (a - 1) * (b - 1) + (b - 1) * (c - 1) + (a - 1) * (c - 1)
    return (a - 1) * (b - 1) * (c - 1) + faces + (a + b + c - 3) / 2 + 8 / 48


@pytest.mark.parametrize("dims", [(1, 1, 1), (2, 2, 2), (3, 4, 5), (6, 2, 9)])
def test_marching_cubes_volume_of_boxes(dims):
    grid = box_grid(12, (1, 1, 1), tuple(1 + d for d in dims))
    mesh = voxels_to_mesh(grid)
    assert mesh.is_watertight
    # rel 1e-3: the iso level sits 1e-4 below 0.5 to break ties (see surface.py).
    assert mesh.volume == pytest.approx(marching_cubes_box_volume(*dims), rel=1e-3)
    np.testing.assert_allclose(mesh.bounds, [[0.5] * 3, [d + 0.5 for d in dims]], atol=2e-4)


def test_voxels_touching_diagonally_give_a_watertight_surface():
    grid = np.zeros((6, 6, 6), np.float32)
    grid[2, 2, 2] = grid[3, 3, 2] = grid[3, 2, 3] = 1.0  # edge contacts only
    mesh = voxels_to_mesh(grid)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.body_count == 1  # ties resolved towards joined


def test_real_shapes_give_watertight_surfaces(shared_data):
    data = np.load(shared_data / "modelnet10" / "modelnet10_train_32.npz")
    grids = data["voxels"][::40]
    for index, grid in enumerate(grids):
        if grid.any():
            assert voxels_to_mesh(grid).is_watertight, index


def test_shape_touching_the_border_is_closed():
    mesh = voxels_to_mesh(np.ones((4, 4, 4), np.float32))
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(marching_cubes_box_volume(4, 4, 4), rel=1e-3)


def test_cubes_mesh_volume_is_voxel_count():
    grid = box_grid(8, (0, 0, 0), (2, 3, 4))
    grid[5, 5, 5] = 1.0
    cubes = voxels_to_cubes(grid)
    assert cubes.is_watertight
    assert cubes.volume == pytest.approx(2 * 3 * 4 + 1)
    assert len(cubes.faces) == 2 * (2 * (2 * 3 + 3 * 4 + 2 * 4) + 6)  # exposed faces only


def test_cubes_meeting_at_an_edge_or_a_corner_stay_manifold():
    """Voxels touching along an edge or at a corner only: each keeps its own vertices
    there, so every edge borders two faces, as slicers want (every corner shared, the
    edge bordered four faces and the corner joined two closed cubes)."""
    grid = np.zeros((6, 6, 6), np.float32)
    for cell in ((1, 1, 1), (2, 2, 1), (3, 3, 2), (1, 3, 3), (2, 3, 3)):  # edge, corner, face
        grid[cell] = 1.0
    cubes = voxels_to_cubes(grid)
    _, counts = np.unique(np.sort(cubes.edges, axis=1), axis=0, return_counts=True)
    assert (counts == 2).all() and cubes.is_watertight and cubes.is_winding_consistent
    assert cubes.volume == pytest.approx(5)
    assert len(cubes.split(only_watertight=False)) == 4  # the face-joined pair is one piece


def test_empty_grid_gives_empty_mesh():
    assert len(voxels_to_mesh(np.zeros((8, 8, 8))).faces) == 0
    assert len(voxels_to_cubes(np.full((8, 8, 8), 0.2)).faces) == 0


def test_bad_grids_are_rejected():
    grid = box_grid(8, (1, 1, 1), (4, 4, 4))
    grid[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        voxels_to_mesh(grid)
    with pytest.raises(
        ValueError, match=r"3D \(x, y, z\) grid of 1 to 256 a side, got shape \(8, 8\)"
    ):
        voxels_to_mesh(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="got shape \\(1024, 1, 1\\)"):  # bounded work
        voxels_to_mesh(np.zeros((1024, 1, 1)))
    with pytest.raises(ValueError, match="booleans or occupancy numbers, got complex128"):
        export_shape(np.ones((4, 4, 4)) * 1j, "never.stl")  # not cast to its real part


def test_taubin_smoothing_keeps_volume_and_decimation_cuts_faces():
    grid = box_grid(24, (4, 4, 4), (20, 20, 20))
    raw = voxels_to_mesh(grid)
    smooth = voxels_to_mesh(grid, smooth_iterations=10)
    assert smooth.volume == pytest.approx(raw.volume, rel=0.03)
    decimated = voxels_to_mesh(grid, target_faces=200)
    assert len(decimated.faces) <= 200 < len(raw.faces)


def test_decimation_never_asks_for_more_faces_than_the_mesh_has(monkeypatch):
    """The targets tried above the one asked reached past a mesh just over it: a mesh of
    1,050 faces asked for 1,000, with every decimation under that open, tried 1,100 and
    fast_simplification raised."""
    from gan3d_core.mesh.surface import decimate

    mesh = voxels_to_mesh(box_grid(24, (4, 4, 4), (20, 20, 20)), smooth_iterations=2)
    target = len(mesh.faces) - 10
    asked = []
    simplify = trimesh.Trimesh.simplify_quadric_decimation

    def open_under_target(self, face_count, aggression):
        asked.append(face_count)
        simplified = simplify(self, face_count=face_count, aggression=aggression)
        if face_count <= target:  # left open: a face missing
            simplified.update_faces(np.arange(len(simplified.faces)) > 0)
        return simplified

    monkeypatch.setattr(trimesh.Trimesh, "simplify_quadric_decimation", open_under_target)
    assert decimate(mesh, target) is mesh  # nothing closed with fewer faces: as it was
    assert asked and max(asked) < len(mesh.faces)


def test_a_decimation_that_stops_short_says_so(tmp_path, monkeypatch):
    """Some meshes stay closed only with more faces than asked (a sample night stand kept
    8,754 of 10,980 asked for 500): the file says how many."""
    from gan3d_core.mesh import surface
    from gan3d_core.mesh.export import write_shape

    monkeypatch.setattr(surface, "decimate", lambda mesh, target: mesh)  # nothing closed
    grid = box_grid(24, (4, 4, 4), (20, 20, 20))
    written = write_shape(grid, tmp_path / "box.stl", ExportOptions(target_faces=4))
    faces = len(trimesh.load(written.path).faces)
    assert faces > 4 and written.note == (
        f"decimated to {faces:,} faces, not 4: every decimation to fewer tried left it open or lost its shape"
    )


def test_an_export_says_when_a_speck_sets_its_base_and_size(tmp_path):
    """A one-voxel speck under a sampled chair left the chair 21 % of its height above the
    plate and 79 mm long where 100 were asked, and nothing said why (review)."""
    from gan3d_core.mesh.export import write_shape

    grid = box_grid(16, (4, 4, 6), (12, 12, 16))
    grid[8, 8, 0] = 1  # a speck under it
    written = write_shape(grid, tmp_path / "a.stl", ExportOptions(size=100.0))
    assert (
        "the largest part starts 37% of the height" in written.note
        and "mm long, not the 100 mm asked" in written.note
    )
    written = write_shape(grid, tmp_path / "a.stl", ExportOptions(size=100.0, min_part=0.05))
    assert "largest part" not in written.note and "left out 1 part" in written.note
    assert trimesh.load(written.path).extents.max() == pytest.approx(100.0)
    slabs = np.zeros((16, 16, 16), np.float32)  # two parts alike: the shape, no specks
    slabs[2:7, 2:14, 2:14], slabs[9:14, 2:14, 4:14] = 1, 1
    assert write_shape(slabs, tmp_path / "b.stl", ExportOptions(size=100.0)).note == ""


def test_a_decimation_keeps_the_shape_or_is_not_taken(shared_data):
    """Closed was not enough: a ShapeNet chair asked for 10 faces came back a closed slab a
    sixteenth of its height, and a night stand asked for 100 kept 8,754 faces where a
    target of 300 gave 448 (the search stopped at three times the faces asked)."""
    from gan3d_core.mesh.surface import decimate

    chair = load_voxels(shared_data / "binvox" / "chair.binvox")
    mesh = voxels_to_mesh(chair, smooth_iterations=2)
    for target in (10, 100):
        decimated = decimate(mesh, target)
        assert decimated.is_watertight
        assert (decimated.extents >= 0.9 * mesh.extents).all(), target
        assert 0.8 <= decimated.volume / mesh.volume <= 1.25, target
        assert len(decimated.faces) < len(mesh.faces) / 2, target


@pytest.mark.parametrize("target", [2000, 500])
def test_decimated_shapenet_shapes_stay_closed_and_lib3mf_reads_them(tmp_path, shared_data, target):
    """Quadric decimation at its default aggressiveness left R2N2's bench open, with
    triangles that repeat a vertex, which lib3mf refuses."""
    lib3mf = pytest.importorskip("lib3mf")
    from gan3d_core.data.datasets import load_shape_grid

    grid = load_shape_grid(shared_data / "binvox" / "r2n2_shapenet_model.binvox", 32)
    path = export_shape(grid, tmp_path / "bench.3mf", ExportOptions(target_faces=target))
    mesh = trimesh.load(path, force="mesh")
    assert mesh.is_watertight and mesh.is_winding_consistent and len(mesh.faces) <= 2 * target
    model = lib3mf.get_wrapper().CreateModel()
    model.QueryReader("3mf").ReadFromFile(str(path))


def test_vertex_normals_agree_with_trimesh_and_point_outwards():
    grid = np.zeros((12, 12, 12), np.float32)
    grid[3:9, 3:9, 2:10] = 1.0
    mesh = voxels_to_mesh(grid, smooth_iterations=2)
    normals = vertex_normals(mesh.vertices, mesh.faces)
    assert normals.dtype == np.float32 and normals.shape == mesh.vertices.shape
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    # trimesh weights faces by angle, these by area: within a few degrees on this surface
    assert np.einsum("ij,ij->i", normals, mesh.vertex_normals).min() > 0.98
    outwards = mesh.vertices - mesh.vertices.mean(axis=0)
    assert (np.einsum("ij,ij->i", normals, outwards) > 0).all()


def test_fit_to_size_in_millimetres():
    mesh = fit_to_size(voxels_to_cubes(box_grid(8, (1, 1, 1), (3, 5, 2))), size=80.0)
    np.testing.assert_allclose(mesh.bounds, [[-20, -40, 0], [20, 40, 20]], atol=1e-9)


@pytest.mark.parametrize("size", [None, 50.0])
def test_exports_stand_centred_on_the_plate_and_glb_counts_metres(tmp_path, size):
    """Sized or not, a mesh's base sits at z = 0 centred on x and y, where a slicer puts
    it and where Blender keeps an asset's origin; a GLB (glTF: y up, in metres) says 50 mm
    as 0.05, and unsized its grid spans a metre."""
    grid = box_grid(16, (2, 3, 5), (6, 11, 9))  # 4 x 8 x 4 voxels, off the grid's centre
    options = ExportOptions(style="blocks", size=size)
    long_side = 8.0 if size is None else size
    stl = trimesh.load(export_shape(grid, tmp_path / "a.stl", options))
    np.testing.assert_allclose(
        stl.bounds,
        [[-long_side / 4, -long_side / 2, 0], [long_side / 4, long_side / 2, long_side / 2]],
        atol=1e-6,
    )
    glb = trimesh.load(export_shape(grid, tmp_path / "a.glb", options), force="mesh")
    scale = 1.0 / 16 if size is None else 1e-3  # unsized: the 16-voxel grid spans 1 m
    np.testing.assert_allclose(glb.extents, np.array([4, 4, 8]) * long_side / 8 * scale, atol=1e-6)
    assert glb.bounds[0][1] == pytest.approx(0.0, abs=1e-9)  # glTF's up: y
    if size is None:  # a grid that is not a cube: its longest side spans the metre, whichever
        tall = np.zeros((16, 16, 64), np.float32)  # axis comes first (it was the first's)
        tall[2:14, 2:14, :] = 1
        for grid in (tall, tall.transpose(2, 1, 0)):
            glb = trimesh.load(export_shape(grid, tmp_path / "t.glb", options), force="mesh")
            assert glb.extents.max() == pytest.approx(1.0)


@pytest.mark.parametrize("suffix", [".stl", ".obj", ".ply", ".glb", ".3mf"])
def test_exported_meshes_reread_by_trimesh(tmp_path, suffix):
    grid = box_grid(10, (2, 2, 2), (6, 7, 8))
    path = export_shape(grid, tmp_path / f"shape{suffix}", ExportOptions(smooth_iterations=0))
    mesh = trimesh.load(path, force="mesh")
    assert len(mesh.faces) > 0
    mesh.merge_vertices()  # STL and GLB store unshared vertices
    assert mesh.is_watertight
    glb_scale = 1 / 10 if suffix == ".glb" else 1  # an unsized GLB's grid spans 1 m
    volume = marching_cubes_box_volume(4, 5, 6) * glb_scale**3
    assert abs(mesh.volume) == pytest.approx(volume, rel=1e-3)


def test_stl_is_binary_and_sized(tmp_path):
    options = ExportOptions(style="blocks", size=50.0)
    path = export_shape(box_grid(10, (0, 0, 0), (5, 5, 10)), tmp_path / "print.stl", options)
    header = path.read_bytes()
    (count,) = np.frombuffer(header[80:84], dtype="<u4")
    assert len(header) == 84 + 50 * count  # binary STL layout
    mesh = trimesh.load(path)
    np.testing.assert_allclose(mesh.extents, [25, 25, 50], atol=1e-4)


@pytest.mark.parametrize("name", ["chair", "camera", "world"])  # trimesh reserves the last two
def test_3mf_read_by_the_3mf_consortiums_library(tmp_path, name):
    """lib3mf, the format's reference implementation, reads our 3MF as a slicer would: one
    closed, outward-wound mesh in millimetres, named after the file, at the size asked, and
    placed on the plate (a build item), whatever the file's name; with no warning. The same
    shape writes the same bytes."""
    lib3mf = pytest.importorskip("lib3mf")
    options = ExportOptions(size=120.0, smooth_iterations=0)
    mesh = voxels_to_mesh(box_grid(12, (2, 2, 2), (6, 9, 10)))
    path = export_shape(box_grid(12, (2, 2, 2), (6, 9, 10)), tmp_path / f"{name}.3mf", options)
    written = path.read_bytes()
    export_shape(box_grid(12, (2, 2, 2), (6, 9, 10)), path, options)
    assert path.read_bytes() == written
    model = lib3mf.get_wrapper().CreateModel()
    reader = model.QueryReader("3mf")
    reader.ReadFromFile(str(path))
    assert [reader.GetWarning(k) for k in range(reader.GetWarningCount())] == []
    assert model.GetUnit() == lib3mf.ModelUnit.MilliMeter
    objects = model.GetMeshObjects()
    assert objects.MoveNext()
    read = objects.GetCurrentMeshObject()
    assert read.GetName() == name and read.IsManifoldAndOriented()
    assert (read.GetVertexCount(), read.GetTriangleCount()) == (len(mesh.vertices), len(mesh.faces))
    corners = np.array([[v.Coordinates[k] for k in range(3)] for v in read.GetVertices()])
    assert corners.max(0) - corners.min(0) == pytest.approx(
        [4 / 8 * 120, 7 / 8 * 120, 120], abs=0.01
    )
    assert not objects.MoveNext()
    assert model.GetBuildItems().Count() == 1
    assert len(load_mesh(path).faces) == len(mesh.faces)  # and our reader takes it back


def test_voxel_exports_round_trip(tmp_path):
    from gan3d_core import load_voxels

    grid = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    assert np.array_equal(load_voxels(export_shape(grid, tmp_path / "v.npy")), grid)
    binary = load_voxels(export_shape(grid, tmp_path / "v.binvox"))
    assert np.array_equal(binary, (grid > 0.5).astype(np.float32))
    # a voxel is one unit, as in our meshes: binvox's scale is the whole grid's side
    assert b"\nscale 8\n" in (tmp_path / "v.binvox").read_bytes()[:100]


def test_empty_shape_and_unknown_suffix_write_nothing(tmp_path):
    with pytest.raises(EmptyShapeError, match=r"highest occupancy 0\.3.*lower the threshold"):
        export_shape(np.full((8, 8, 8), 0.3, np.float32), tmp_path / "a.stl")
    with pytest.raises(UsageError, match=r"unknown export format \.fbx"):
        export_shape(box_grid(8, (1, 1, 1), (3, 3, 3)), tmp_path / "a.fbx")
    with pytest.raises(OutputFileError, match="is a directory"):
        export_shape(box_grid(8, (1, 1, 1), (3, 3, 3)), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_small_separate_parts_are_left_out_of_exports_on_request(tmp_path):
    from gan3d_core.mesh import count_parts, count_shells, drop_small_parts

    grid = box_grid(16, (2, 2, 2), (8, 8, 8))  # 216 voxels
    grid[8, 8, 5] = 1.0  # shares an edge with the box: the surface joins them
    grid[8, 8, 8] = 1.0  # touches it at a corner only: a part of its own
    grid[13, 13, 13] = 0.9  # a speck
    grid[12:16, 0:3, 0:2] = 0.8  # a part of 24 voxels
    assert count_parts(grid, 0.5) == 4
    kept = drop_small_parts(grid, 0.5, 0.05)  # under 10.85 voxels: the speck and the corner
    assert count_parts(kept, 0.5) == 2 and kept[13, 13, 13] == kept[8, 8, 8] == 0
    assert kept[8, 8, 5] == 1
    assert count_parts(drop_small_parts(grid, 0.5, 0.2), 0.5) == 1
    assert drop_small_parts(grid, 0.5, 0.0) is grid  # 0: everything stays
    assert count_parts(drop_small_parts(grid, 0.5, 1.0), 0.5) == 1  # the largest always stays
    # A mesh's parts are its pieces, as a slicer sees them: the smooth surface joins the
    # voxel sharing an edge with the box; cubes meeting at an edge only touch along a line
    for style, parts, volume in (("smooth", 4, None), ("blocks", 5, 216)):
        options = ExportOptions(style=style, min_part=0.2)
        written = write_shape(grid, tmp_path / f"{style}.stl", options)
        mesh = trimesh.load(written.path)
        assert written.parts == 1 and mesh.bounds[1].max() < 9  # the box (and its voxel)
        assert len(mesh.split(only_watertight=False)) == 1
        if volume:
            assert mesh.volume == pytest.approx(volume)
        everything = write_shape(grid, tmp_path / f"all_{style}.stl", replace(options, min_part=0))
        assert everything.parts == parts == count_shells(trimesh.load(everything.path))
    written = write_shape(grid, tmp_path / "two.binvox", ExportOptions(min_part=0.05))
    assert written.parts == 2 and load_voxels(written.path)[13, 13, 13] == 0
    voxels = np.load(export_shape(grid, tmp_path / "one.npy", ExportOptions(min_part=0.2)))
    assert voxels[13, 13, 13] == 0 and voxels[14, 1, 1] == 0 and voxels[5, 5, 5] == 1
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(UsageError, match="min_part must be a share between 0 and 1"):
            ExportOptions(min_part=bad)


def test_a_cavity_inside_a_shape_is_not_a_part_and_stays_hollow(tmp_path):
    from gan3d_core.mesh import count_parts

    hollow = box_grid(12, (1, 1, 1), (11, 11, 11))
    hollow[4:8, 4:8, 4:8] = 0
    assert count_parts(hollow, 0.5) == 1
    written = write_shape(
        hollow, tmp_path / "hollow.stl", ExportOptions(style="blocks", min_part=0.9)
    )
    assert written.parts == 1
    assert trimesh.load(written.path).volume == pytest.approx(10**3 - 4**3)  # still hollow


def test_a_finer_grid_of_a_shape_exports_at_the_size_of_the_coarse_one(tmp_path):
    """--surface-resolution 128 on a 32^3 model made an STL four times larger."""
    coarse = box_grid(8, (2, 2, 1), (6, 4, 7))
    fine = coarse.repeat(4, 0).repeat(4, 1).repeat(4, 2)
    sizes = [
        trimesh.load(export_shape(grid, tmp_path / f"{len(grid)}.stl", options)).extents
        for grid, options in ((coarse, ExportOptions(style="blocks")),
                              (fine, ExportOptions(style="blocks", voxel_size=0.25)))
    ]  # fmt: skip
    np.testing.assert_allclose(sizes[1], sizes[0], atol=1e-6)
    with pytest.raises(UsageError, match="voxel_size must be a positive number"):
        ExportOptions(voxel_size=0)


def test_smooth_surfaces_carry_normals_and_a_glb_a_matte_material(tmp_path):
    """Without normals glTF viewers and Blender shade a smooth surface flat; without a
    material three.js draws it fully metallic, near black."""
    import json
    import struct

    grid = box_grid(16, (3, 3, 3), (12, 12, 12))
    for style, shaded in (("smooth", True), ("blocks", False)):
        glb = export_shape(grid, tmp_path / f"{style}.glb", ExportOptions(style=style)).read_bytes()
        (length,) = struct.unpack("<I", glb[12:16])
        gltf = json.loads(glb[20 : 20 + length])
        assert ("NORMAL" in gltf["meshes"][0]["primitives"][0]["attributes"]) == shaded
        assert gltf["materials"][0]["pbrMetallicRoughness"]["metallicFactor"] == 0.0
        obj = export_shape(grid, tmp_path / f"{style}.obj", ExportOptions(style=style))
        assert ("\nvn " in obj.read_text()) == shaded
        assert load_mesh(obj).is_watertight and load_mesh(tmp_path / f"{style}.glb").is_volume


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_an_output_that_is_a_pipe_is_refused_and_a_link_writes_where_it_points(tmp_path):
    """Audit: both were silently replaced by a regular file (the pipe's reader then waited
    for ever; the link no longer pointed at the file it named)."""
    from gan3d_core.errors import OutputFileError
    from gan3d_core.io.atomic import write_bytes_atomic

    os.mkfifo(tmp_path / "pipe.stl")
    with pytest.raises(OutputFileError, match=r"pipe\.stl: is a named pipe \(FIFO\), not a file"):
        write_bytes_atomic(tmp_path / "pipe.stl", b"solid")
    (tmp_path / "real.stl").write_bytes(b"old")
    (tmp_path / "link.stl").symlink_to(tmp_path / "real.stl")
    write_bytes_atomic(tmp_path / "link.stl", b"new")
    assert (tmp_path / "link.stl").is_symlink() and (tmp_path / "real.stl").read_bytes() == b"new"
    # a latent and its class file, written all or none: a refused pipe or folder is left be
    # (the failed write's clean-up removed the pipe, and a folder raised IsADirectoryError)
    from gan3d_core.io.latent_files import write_latent

    os.mkfifo(tmp_path / "pipe.latent.npy")
    (tmp_path / "folder.latent.npy").mkdir()
    for name, said in (("pipe", "is a named pipe"), ("folder", "is a directory")):
        with pytest.raises(OutputFileError, match=f"{name}.latent.npy: {said}"):
            write_latent(tmp_path / f"{name}.latent.npy", np.zeros(3), "chair")
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe.latent.npy").st_mode)
    assert (tmp_path / "folder.latent.npy").is_dir() and not list(tmp_path.glob("*.json"))


@pytest.mark.parametrize(
    "settings, said",
    [
        ({"threshold": "0.5"}, "threshold must be a number, got '0.5'"),
        ({"smooth_iterations": 2.5}, "smooth_iterations must be a whole number, got 2.5"),
        ({"target_faces": float("nan")}, "target_faces must be a whole number, got nan"),
        ({"size": "100"}, "size must be a number, got '100'"),
        ({"min_part": True}, "min_part must be a number, got True"),
    ],
)
def test_export_options_of_the_wrong_type_are_refused_as_they_are_made(settings, said):
    """Audit: Python's own TypeErrors, and 2.5 smoothing passes failed only while smoothing."""
    from gan3d_core.errors import UsageError
    from gan3d_core.mesh.export import ExportOptions

    with pytest.raises(UsageError, match=re.escape(said)):
        ExportOptions(**settings)
    ExportOptions(threshold=np.float32(0.4), smooth_iterations=np.int64(3), size=100)  # numpy's
