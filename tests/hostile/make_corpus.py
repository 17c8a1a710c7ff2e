"""Build a corpus of crafted hostile files and the ``gan3d`` command lines that read them.

Every case must be refused with exit code 1 and one line on stderr that names the file (or
the option), within seconds and bounded memory, writing nothing. The files are made here,
not committed: ``build_corpus(root)`` writes them under ``root`` and returns the cases.
Classes follow the hostile-input issue: (1) deep JSON, (2) wrong JSON types, (3) declared
sizes, (4) nonsense values, (5) hangs (FIFOs, devices, endless loops), (6) messages.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan3d_core import limits


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    named: str  # a fragment the one-line error must contain: the file's path or the option


def _npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    """A version 1.0 .npy header declaring ``shape`` and ``descr`` (no data follows)."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _png(width: int, height: int, body: bytes = b"") -> bytes:
    """A PNG whose header declares width x height (grey, 8 bit); ``body`` as its IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", body or zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _binvox(dims: tuple[int, int, int], data: bytes, translate: str = "0 0 0") -> bytes:
    header = f"#binvox 1\ndim {dims[0]} {dims[1]} {dims[2]}\ntranslate {translate}\nscale 1\ndata\n"
    return header.encode() + data


def _empty_runs(voxels: int) -> bytes:
    """Run-length data of ``voxels`` empty voxels."""
    full, rest = divmod(voxels, 255)
    return b"\x00\xff" * full + (bytes([0, rest]) if rest else b"")


def _checkpoint(path: Path, kind: str = "gan", card: dict | None = None, **config) -> Path:
    """A small real checkpoint, its card then overwritten by ``card`` (raw, unchecked)."""
    import torch
    from safetensors.torch import save

    from gan3d_core.config import ModelConfig
    from gan3d_core.io.checkpoint import save_checkpoint
    from gan3d_core.models import GanNetworks

    settings = dict(
        kind=kind, resolution=32, latent_dim=8, generator_widths=(8, 8, 8),
        discriminator_widths=(8, 8, 8),
    )  # fmt: skip
    if kind != "gan":
        settings.update(image_size=64, encoder_widths=(4, 8, 8, 8))
    if kind == "cvaegan":
        settings.update(num_classes=2, label_embedding_dim=4)
    settings.update(config)
    torch.manual_seed(0)
    networks = GanNetworks(ModelConfig(**settings))
    save_checkpoint(path, networks, {"class_names": ["a", "b"]} if kind == "cvaegan" else {})
    if card is not None:
        tensors = {k: v.contiguous() for k, v in networks.state_dict().items()}
        metadata = {"format": "gan3d-studio", "model_card": card.pop("__raw__", None)}
        metadata["model_card"] = metadata["model_card"] or json.dumps(card)
        path.write_bytes(save(tensors, metadata=metadata))
    return path


def _card(path: Path, **changes) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        card = json.loads(handle.metadata()["model_card"])
    for key, value in changes.items():
        if "." in key:
            section, field = key.split(".")
            card[section][field] = value
        else:
            card[key] = value
    return card


def _retensor(path: Path, source: Path, change) -> Path:
    """A copy of checkpoint ``source`` whose tensors dict went through ``change``."""
    from safetensors import safe_open
    from safetensors.torch import save

    with safe_open(str(source), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    change(tensors)
    path.write_bytes(save(tensors, metadata=metadata))
    return path


def build_corpus(root: Path) -> list[Case]:
    """Write the crafted files under ``root`` and return the cases; outputs go to root/out."""
    import torch

    root.mkdir(parents=True, exist_ok=True)
    inputs, out = root / "in", root / "out"
    inputs.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    cases: list[Case] = []

    def file(name: str, data: bytes | str) -> str:
        path = inputs / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(path)

    def fifo(name: str) -> str:
        path = inputs / name
        os.mkfifo(path)
        return str(path)

    def add(name: str, argv: list[str], named: str) -> None:
        cases.append(Case(name, argv, named))

    good = str(_checkpoint(inputs / "good.safetensors"))
    good_vae = str(_checkpoint(inputs / "good_vae.safetensors", "vaegan"))
    good_cond = str(_checkpoint(inputs / "good_cond.safetensors", "cvaegan"))
    deep = "[" * 200_000 + "]" * 200_000

    # -- checkpoints: info, sample, interpolate, pack ----------------------------------------
    def bad_checkpoint(file_name: str, /, **changes) -> str:
        card = _card(Path(good), **changes)
        return str(_checkpoint(inputs / f"{file_name}.safetensors", card=card))

    checkpoints = {
        "card_deep_json": str(_checkpoint(inputs / "deep.safetensors", card={"__raw__": deep})),
        "card_deep_object": str(
            _checkpoint(inputs / "deep_obj.safetensors", card={"__raw__": '{"a":' * 50_000})
        ),
        "card_list": str(_checkpoint(inputs / "card_list.safetensors", card={"__raw__": "[1]"})),
        "card_nan": str(
            _checkpoint(
                inputs / "card_nan.safetensors", card={"__raw__": '{"format_version": NaN}'}
            )
        ),
        "card_not_json": str(_checkpoint(inputs / "not_json.safetensors", card={"__raw__": "{x"})),
        "class_names_number": bad_checkpoint("cn_number", class_names=5),
        "class_names_dict": bad_checkpoint("cn_dict", class_names={"a": 1}),
        "class_names_nan": bad_checkpoint("cn_nan", class_names=[float("nan")]),
        "class_names_ints": bad_checkpoint("cn_ints", class_names=[1, 2]),
        "class_names_mixed": bad_checkpoint("cn_mixed", class_names=["chair", None]),
        "class_names_empty_name": bad_checkpoint("cn_empty", class_names=[""]),
        "class_names_huge": bad_checkpoint("cn_huge", class_names=[str(i) for i in range(5000)]),
        # audit: a class name became a file name, and sample wrote above -o; escapes reached
        # the terminal through gan3d info
        "class_names_path": bad_checkpoint("cn_path", class_names=["../../../outside"]),
        "class_names_escape": bad_checkpoint("cn_escape", class_names=["desk\x1b[2J"]),
        "class_names_newline": bad_checkpoint("cn_newline", class_names=["chair\nFAKE: ok"]),
        "name_escape": bad_checkpoint("name_escape", name="evil\x1b]0;owned\x07"),
        "name_number": bad_checkpoint("name_number", name=12),
        "metrics_list": bad_checkpoint("metrics_list", metrics=[1]),
        "training_string": bad_checkpoint("training_string", training="x"),
        "settings_wrong_type": bad_checkpoint(
            "settings_type", training={"settings": {"limit": "x"}}
        ),
        "storage_unknown": bad_checkpoint("storage", storage="float8"),
        "format_version_future": bad_checkpoint("fv_future", format_version=99),
        "format_version_string": bad_checkpoint("fv_string", format_version="1"),
        "format_version_bool": bad_checkpoint("fv_bool", format_version=True),
        "config_list": bad_checkpoint("config_list", config=[1, 2]),
        "config_latent_string": bad_checkpoint("cfg_latent_str", **{"config.latent_dim": "abc"}),
        "config_latent_huge": bad_checkpoint("cfg_latent_huge", **{"config.latent_dim": 10**7}),
        "config_latent_float": bad_checkpoint("cfg_latent_float", **{"config.latent_dim": 8.5}),
        "config_latent_bool": bad_checkpoint("cfg_latent_bool", **{"config.latent_dim": True}),
        "config_widths_huge": bad_checkpoint(
            "cfg_widths", **{"config.generator_widths": [100_000, 8, 8]}
        ),
        "config_widths_string": bad_checkpoint("cfg_widths_s", **{"config.generator_widths": "8"}),
        "config_classes_huge": bad_checkpoint(
            "cfg_classes", **{"config.kind": "cvaegan", "config.num_classes": 10**6}
        ),
        "config_kind_unknown": bad_checkpoint("cfg_kind", **{"config.kind": "diffusion"}),
        "config_unknown_key": bad_checkpoint("cfg_key", **{"config.evil": 1}),
        "config_resolution": bad_checkpoint("cfg_res", **{"config.resolution": 1024}),
        "config_dropout_nan": bad_checkpoint("cfg_dropout", **{"config.generator_dropout": None}),
        "config_big_but_valid": bad_checkpoint(
            "cfg_big", **{"config.latent_dim": 4096, "config.generator_widths": [4096, 4096, 4096]}
        ),
        "nan_weights": str(
            _retensor(
                inputs / "nan.safetensors",
                Path(good),
                lambda t: t["generator.layers.0.weight"].fill_(float("nan")),
            )
        ),
        # finite, but no trained network's: every output NaN (audit: loaded, then failed
        # in each command without naming the file)
        "negative_variance": str(
            _retensor(
                inputs / "negvar.safetensors",
                Path(good),
                lambda t: next(v for k, v in t.items() if k.endswith("running_var")).fill_(-1.0),
            )
        ),
        "shape_mismatch": str(
            _retensor(
                inputs / "shape.safetensors",
                Path(good),
                lambda t: t.update({"generator.layers.0.weight": torch.zeros(3, 3)}),
            )
        ),
        "missing_tensor": str(
            _retensor(
                inputs / "missing.safetensors",
                Path(good),
                lambda t: t.pop("generator.layers.0.weight"),
            )
        ),
        "extra_tensor": str(
            _retensor(
                inputs / "extra.safetensors",
                Path(good),
                lambda t: t.update({"latent_gan.evil": torch.zeros(2)}),
            )
        ),
        "pickle": file("model.pt.safetensors", b"\x80\x04\x95" + b"cos\nsystem\n" * 10),
        "zip": file("zip.safetensors", b"PK\x03\x04" + b"\x00" * 100),
        "empty": file("empty.safetensors", b""),
        "random_bytes": file("random.safetensors", np.random.default_rng(0).bytes(4096)),
        "header_length_huge": file(
            "hdr_huge.safetensors", struct.pack("<Q", 2**62) + b"{" + b" " * 100
        ),
        "header_truncated": file("hdr_trunc.safetensors", Path(good).read_bytes()[:200]),
        "data_truncated": file("data_trunc.safetensors", Path(good).read_bytes()[:-100]),
        "fifo": fifo("pipe.safetensors"),
        "directory": str(inputs),
        "device": "/dev/zero",
        "missing": str(inputs / "absent.safetensors"),
    }
    # `info` reads the card alone: a file whose card is sound but whose tensors are not is
    # refused by the commands that load the weights.
    tensor_cases = ("config_big_but_valid", "nan_weights", "negative_variance", "shape_mismatch",
                    "missing_tensor", "extra_tensor")  # fmt: skip
    for name, path in checkpoints.items():
        if name not in tensor_cases:
            add(f"info/{name}", ["info", path], path)
    for name in ("class_names_number", "class_names_nan", "config_latent_huge", "fifo",
                 "card_deep_json", *tensor_cases):  # fmt: skip
        path = checkpoints[name]
        add(f"sample/{name}",
            ["sample", "--model", path, "--device", "cpu", "-o", str(out / "s")], path)  # fmt: skip
    add("pack/nan_weights", ["pack", checkpoints["nan_weights"], "-o", str(out / "p.safetensors")],
        checkpoints["nan_weights"])  # fmt: skip

    # -- sample / interpolate options ------------------------------------------------------
    sample = ["sample", "--model", good, "--device", "cpu", "-o", str(out / "s")]
    add("sample/n_huge", [*sample, "-n", "100000000"], "-n")
    add("sample/n_zero", [*sample, "-n", "0"], "-n")
    add("sample/truncation_tiny", [*sample, "--truncation", "1e-30"], "--truncation")
    add("sample/truncation_nan", [*sample, "--truncation", "nan"], "--truncation")
    add("sample/truncation_negative", [*sample, "--truncation", "-1"], "--truncation")
    add("sample/size_nan", [*sample, "--size-mm", "nan"], "--size-mm")
    add("sample/size_inf", [*sample, "--size-mm", "inf"], "--size-mm")
    add("sample/smooth_huge", [*sample, "--smooth", "2000000"], "--smooth")
    add("sample/faces_huge", [*sample, "--faces", "10000000000"], "--faces")
    add("sample/threshold_nan", [*sample, "--threshold", "nan"], "--threshold")
    add("sample/n_not_a_number", [*sample, "-n", "many"], "-n")
    add("sample/device_unknown", ["sample", "--model", good, "--device", "tpu", "-o", str(out / "s")],
        "tpu")  # fmt: skip
    add("sample/class_unknown",
        ["sample", "--model", good_cond, "--device", "cpu", "--class", "zebra", "-o", str(out / "s")],
        "zebra")  # fmt: skip
    interp = ["interpolate", "--model", good, "--device", "cpu", "-o", str(out / "i")]
    add("interpolate/steps_huge", [*interp, "--steps", "100000000", "--seeds", "0", "1"], "--steps")
    latent_cases = {
        "complex": file("complex.npy", _npy(np.ones(8, np.complex64))),
        "object": file("object.npy", _npy(np.array([{"a": 1}] * 8, dtype=object))),
        "declared_huge": file("huge_latent.npy", _npy_header((3000, 3000, 3000), "<f8")),
        "wrong_shape": file("wrong_latent.npy", _npy(np.ones(5, np.float32))),
        "nan": file("nan_latent.npy", _npy(np.full(8, np.nan, np.float32))),
        "overflow": file("overflow_latent.npy", _npy(np.full(8, 1e300))),
        # finite in float32, but it overflowed a slider and a norm
        "huge_finite": file("huge_finite_latent.npy", _npy(np.full(8, 3e38, np.float32))),
        "npz": file("latent_npz.npy", b"PK\x03\x04" + b"\x00" * 60),
        "fifo": fifo("latent_pipe.npy"),
        "text": file("text.npy", "not numpy"),
    }
    for name, path in latent_cases.items():
        add(f"interpolate/latent_{name}", [*interp, "--steps", "3", "--latents", path, path], path)
    # a latent's class file beside it (NAME.latent.json), read for a conditional model
    interp_cond = ["interpolate", "--model", good_cond, "--device", "cpu", "-o", str(out / "i")]
    for name, data in {"not_json": "{class", "no_class": '{"label": 2}', "list": "[1, 2]",
                       "class_number": '{"class": 3}', "class_unknown": '{"class": "spaceship"}',
                       "deep": deep}.items():  # fmt: skip
        latent = file(f"{name}.latent.npy", _npy(np.ones(8, np.float32)))
        named = file(f"{name}.latent.json", data)
        add(f"interpolate/class_file_{name}",
            [*interp_cond, "--steps", "3", "--latents", latent, latent], named)  # fmt: skip
    latent = file("piped.latent.npy", _npy(np.ones(8, np.float32)))
    add("interpolate/class_file_fifo", [*interp_cond, "--steps", "3", "--latents", latent, latent],
        fifo("piped.latent.json"))  # fmt: skip

    # -- voxels: export ----------------------------------------------------------------------
    def export(path: str) -> list[str]:
        return ["export", path, "-o", str(out / "e.stl")]

    grid = np.zeros((8, 8, 8), np.float32)
    grid[2:6, 2:6, 2:6] = 1
    good_npy = file("good.npy", _npy(grid))
    voxel_files = {
        "npy_declared_3000": file("declared.npy", _npy_header((3000, 3000, 3000), "<f8")),
        "npy_declared_negative": file("negative.npy", _npy_header((-1, 8, 8), "<f4")),
        "npy_complex": file("complex_grid.npy", _npy(grid.astype(np.complex64))),
        "npy_object": file("object_grid.npy", _npy(np.array([None] * 8, dtype=object))),
        "npy_structured": file(
            "structured.npy", _npy(np.zeros((4, 4, 4), dtype=[("a", "f4"), ("b", "i4")]))
        ),
        "npy_strings": file("strings.npy", _npy(np.full((2, 2, 2), "x"))),
        "npy_float128_header": file("f16b.npy", _npy_header((4, 4, 4), "<f16")),
        "npy_2d": file("flat.npy", _npy(np.ones((8, 8), np.float32))),
        "npy_side_300": file("side300.npy", _npy_header((300, 4, 4), "<f4") + bytes(300 * 64)),
        "npy_nan": file("nan_grid.npy", _npy(np.full((4, 4, 4), np.nan, np.float32))),
        "npy_overflow": file("overflow_grid.npy", _npy(np.full((4, 4, 4), 1e300))),
        "npy_out_of_range": file("range.npy", _npy(np.full((4, 4, 4), 7.0, np.float32))),
        "npy_truncated": file("trunc.npy", Path(good_npy).read_bytes()[:-10]),
        "npy_trailing": file("trailing.npy", Path(good_npy).read_bytes() + b"\x00" * 64),
        "npy_header_only": file("header_only.npy", b"\x93NUMPY\x01\x00"),
        "npy_bad_header": file("bad_header.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': os.sy}\n"),
        "npy_huge_header_len": file("hdr_len.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31)),
        "npy_is_npz": file("archive.npy", _zip({"a.npy": _npy(grid)})),
        "npy_fifo": fifo("pipe.npy"),
        "npy_empty": file("empty.npy", b""),
        "binvox_1024_valid": file("big.binvox", _binvox((1024,) * 3, _empty_runs(1024**3))),
        "binvox_declared_huge": file("huge.binvox", _binvox((10**6,) * 3, b"\x00\xff")),
        "binvox_dim_negative": file("neg.binvox", _binvox((-8, 8, 8), b"")),
        "binvox_dim_text": file(
            "dimtext.binvox", _binvox((8, 8, 8), b"").replace(b"dim 8", b"dim x")
        ),
        "binvox_no_data_line": file("nodata.binvox", b"#binvox 1\ndim 8 8 8\n" + b"junk\n" * 40),
        "binvox_truncated": file("trunc.binvox", _binvox((8, 8, 8), b"\x00\xff")),
        "binvox_overlong": file("long.binvox", _binvox((8, 8, 8), b"\x00\xff" * 4)),
        "binvox_odd": file("odd.binvox", _binvox((8, 8, 8), b"\x00\xff\x00")),
        "binvox_bad_value": file("value.binvox", _binvox((8, 8, 8), b"\x07\xff\x00\xff\x00\x02")),
        "binvox_translate_nan": file(
            "nan.binvox", _binvox((8, 8, 8), b"\x01\xff\x01\xff\x01\x02", translate="nan 0 0")
        ),
        "binvox_not": file("not.binvox", "hello"),
        "binvox_fifo": fifo("pipe.binvox"),
        "binvox_directory": str(_mkdir(inputs / "folder.binvox")),
        "binvox_device": str(_symlink(inputs / "dev_zero.binvox", "/dev/zero")),
        "suffix_unknown": file("grid.vox", b"\x00"),
        "binvox_noise_surface": _noise_binvox(inputs / "noise.binvox"),
    }
    for name, path in voxel_files.items():
        add(f"export/{name}", export(path), path)
    add("export/output_is_a_folder", ["export", good_npy, "-o", str(out)], "is a directory")
    add("export/size_nan", ["export", good_npy, "-o", str(out / "e.stl"), "--size-mm", "nan"],
        "--size-mm")  # fmt: skip
    add("export/size_inf", ["export", good_npy, "-o", str(out / "e.stl"), "--size-mm", "inf"],
        "--size-mm")  # fmt: skip
    add("export/size_negative", ["export", good_npy, "-o", str(out / "e.stl"), "--size-mm", "-3"],
        "--size-mm")  # fmt: skip
    add("export/smooth_huge", ["export", good_npy, "-o", str(out / "e.stl"), "--smooth", "2000000"],
        "--smooth")  # fmt: skip
    for value in ("nan", "inf", "-5", "1e9"):
        add(f"export/min_part_{value}",
            ["export", good_npy, "-o", str(out / "e.stl"), "--min-part", value], "--min-part")  # fmt: skip
    add("export/existing_kept", ["export", voxel_files["npy_nan"], "-o", str(out / "keep.stl")],
        voxel_files["npy_nan"])  # fmt: skip
    add("render/binvox_1024", ["render", voxel_files["binvox_1024_valid"], "-o", str(out / "r")],
        voxel_files["binvox_1024_valid"])  # fmt: skip

    # -- meshes: voxelize ----------------------------------------------------------------------
    def voxelize(path: str, resolution: int = 32) -> list[str]:
        return ["voxelize", path, "-r", str(resolution), "-o", str(out / "v.binvox")]

    tetra = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"
    big_triangles = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 1\n" + "f 1 2 3\nf 2 3 4\n" * 30_000
    sparse = inputs / "sparse.stl"
    with open(sparse, "wb") as handle:  # 65 MB on paper, a few blocks on disk
        handle.truncate(65 << 20)
    mesh_files = {
        "obj_60k_large_triangles": file("large.obj", big_triangles),
        "obj_nan_vertex": file("nan.obj", tetra.replace("v 0 0 1", "v nan 0 1")),
        "obj_inf_vertex": file("inf.obj", tetra.replace("v 0 0 1", "v 1e400 0 1")),
        "obj_extent_overflows": file(
            "huge.obj", tetra.replace("v 0 0 0", "v -1e308 0 0").replace("v 0 0 1", "v 1e308 0 1")
        ),
        "obj_bad_index": file("index.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999\n"),
        "obj_no_faces": file("nofaces.obj", "v 0 0 0\nv 1 0 0\n"),
        "obj_flat_point": file("point.obj", "v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n"),
        "obj_garbage": file("garbage.obj", np.random.default_rng(1).bytes(2000)),
        "off_declared_huge": file("huge.off", "OFF\n1000000000 1000000000 0\n0 0 0\n"),
        # a missing vertex line: trimesh would read the first face line as a vertex
        "off_missing_vertex": file(
            "missing.off", "OFF\n4 2 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n3 0 2 3\n"
        ),
        "off_short_vertex": file("short.off", "OFF\n3 1 0\n0 0 0\n1 0\n0 1 0\n3 0 1 2\n"),
        "ply_declared_huge": file(
            "huge.ply",
            "ply\nformat binary_little_endian 1.0\nelement vertex 1000000000\n"
            "property float x\nproperty float y\nproperty float z\nelement face 1000000000\n"
            "property list uchar int vertex_indices\nend_header\n" + "\x00" * 64,
        ),
        "stl_declared_huge": file(
            "huge.stl", b"\x00" * 80 + struct.pack("<I", 10**9) + b"\x00" * 50
        ),
        "stl_sparse_65mb": str(sparse),
        "glb_garbage": file("bad.glb", b"glTF" + struct.pack("<II", 2, 2**31) + b"\x00" * 32),
        "3mf_not_a_zip": file("text.3mf", tetra),
        "3mf_bomb_declared": file("bomb.3mf", _zip_declaring("3D/3dmodel.model", 2**40)),
        # 200 MiB of spaces in 0.2 MB, declared as 1,000 bytes: a whole read unpacked it all
        "3mf_bomb_understated": file(
            "understated.3mf",
            _zip_declaring("3D/3dmodel.model", 1000, b"<model>" + b" " * (200 << 20) + b"</model>"),
        ),
        "3mf_no_model": file("empty.3mf", _zip({"_rels/.rels": b"<Relationships/>"})),
        "3mf_garbage_xml": file("garbage.3mf", _zip({"3D/3dmodel.model": b"<model><mesh"})),
        "3mf_entity_reads_fifo": file(  # an external entity must not be resolved
            "entity.3mf",
            _zip(
                {
                    "3D/3dmodel.model": f'<?xml version="1.0"?><!DOCTYPE model [<!ENTITY x SYSTEM '
                    f'"file://{fifo("entity_pipe")}">]><model unit="millimeter">&x;</model>'.encode()
                }
            ),
        ),
        "mesh_fifo": fifo("pipe.obj"),
        "mesh_device": str(_symlink(inputs / "dev_zero.stl", "/dev/zero")),
        "mesh_unknown_suffix": file("mesh.xyz", tetra),
        "gltf_buffer_fifo": file(
            "buffer.gltf",
            json.dumps(
                {
                    "asset": {"version": "2.0"},
                    "buffers": [{"uri": fifo("pipe.bin"), "byteLength": 36}],
                }
            ),
        ),
    }
    for name, path in mesh_files.items():
        add(f"voxelize/{name}", voxelize(path), path)
    tetra_path = file("tetra.obj", tetra)
    add("voxelize/resolution_512", voxelize(tetra_path, 512), "-r")
    add("voxelize/resolution_huge", voxelize(tetra_path, 10**9), "-r")

    # -- shapes: encode (grids and meshes through one reader) ---------------------------------
    good_lgan = str(_checkpoint(inputs / "good_lgan.safetensors", "lgan", bank_shapes=2,
                                bank_views=1, bank_feature_dim=4, head_width=8))  # fmt: skip
    encoded_grids = ("npy_nan", "npy_out_of_range", "npy_fifo", "npy_declared_3000",
                     "binvox_truncated", "binvox_directory", "binvox_device",
                     "binvox_declared_huge", "suffix_unknown")  # fmt: skip
    encoded_meshes = ("obj_nan_vertex", "obj_no_faces", "mesh_fifo", "stl_declared_huge",
                      "obj_extent_overflows")  # fmt: skip
    encoded = [voxel_files[name] for name in encoded_grids]
    encoded += [mesh_files[name] for name in encoded_meshes]
    encoded.append(file("chair.latent.npy", _npy(np.ones(8, np.float32))))  # not a shape
    for path in encoded:
        add(f"encode/{Path(path).name}", ["encode", "--model", good_lgan, "--device", "cpu",
            path, "-o", str(out / "encoded")], path)  # fmt: skip

    # -- images: reconstruct ----------------------------------------------------------------
    def reconstruct(*paths: str) -> list[str]:
        return ["reconstruct", "--model", good_vae, "--device", "cpu", *paths, "-o",
                str(out / "r.stl")]  # fmt: skip

    image_files = {
        "png_13000": file("huge.png", _png(13000, 13000)),
        "png_declared_2e9": file("wide.png", _png(2**31 - 1, 2)),
        "png_zero": file("zero.png", _png(0, 0)),
        "png_truncated_data": file("trunc.png", _png(64, 64, zlib.compress(b"\x00" * 10))),
        "png_bad_crc": file("crc.png", _png(8, 8)[:-5] + b"\x00\x00\x00\x00\x00"),
        "png_text": file("text.png", "not an image"),
        "png_empty": file("empty.png", b""),
        "jpg_garbage": file("garbage.jpg", b"\xff\xd8\xff" + np.random.default_rng(2).bytes(500)),
        "image_fifo": fifo("pipe.png"),
        "image_directory": str(_mkdir(inputs / "folder.png")),
        "image_device": str(_symlink(inputs / "dev_zero.png", "/dev/zero")),
        "image_missing": str(inputs / "absent.png"),
    }
    for name, path in image_files.items():
        add(f"reconstruct/{name}", reconstruct(path), path)
    small = file("small.png", _png(8, 8, zlib.compress(b"\x00" + b"\x80" * 8 * 9)))
    add("reconstruct/too_many_images", reconstruct(*[small] * 65), "images")

    # --each: one object per photo, into a folder; a bad photo after a good one is named
    from PIL import Image

    photo = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(photo, format="PNG")
    good_png = file("good.png", photo.getvalue())

    def reconstruct_each(*paths: str, folder: Path = out / "each") -> list[str]:
        return ["reconstruct", "--model", good_vae, "--device", "cpu", "--each", *paths,
                "-o", str(folder)]  # fmt: skip

    for name in ("png_truncated_data", "image_fifo", "image_directory", "image_device"):
        path = image_files[name]
        add(f"reconstruct/each_{name}", reconstruct_each(good_png, path), path)
    too_many = [good_png] * (limits.MAX_EACH_PHOTOS + 1)
    add("reconstruct/each_too_many_images", reconstruct_each(*too_many), "images")
    add("reconstruct/each_output_is_a_file",
        reconstruct_each(good_png, folder=Path(good_png)), good_png)  # fmt: skip

    # -- JSON files: pack --metrics, train --config ------------------------------------------
    json_files = {
        "deep": file("deep.json", deep),
        "deep_objects": file("deep_objects.json", '{"a":' * 200_000),
        "list": file("list.json", "[1, 2, 3]"),
        "nan": file("nan.json", '{"task": NaN}'),
        "not_utf8": file("latin.json", b'{"task": "\xff"}'),
        "not_json": file("bad.json", "{task: recon"),
        "fifo": fifo("pipe.json"),
        "empty": file("empty.json", ""),
    }
    for name, path in json_files.items():
        add(f"pack/metrics_{name}",
            ["pack", good, "-o", str(out / "p.safetensors"), "--metrics", path], path)  # fmt: skip
    configs = dict(
        json_files,
        latent_string=file("latent_string.json", '{"latent_dim": "abc"}'),
        latent_huge=file("latent_huge.json", '{"latent_dim": 1000000000}'),
        batch_huge=file("batch_huge.json", '{"batch_size": 1000000000}'),
        epochs_list=file("epochs_list.json", '{"epochs": [1]}'),
        classes_number=file("classes_number.json", '{"classes": 5}'),
        widths_strings=file("widths.json", '{"generator_widths": ["a", "b", "c"]}'),
        resolution_string=file("resolution.json", '{"resolution": "32"}'),
        unknown_key=file("unknown.json", '{"evil": 1}'),
        lr_huge_exponent=file("lr.json", '{"lr_generator": 1e400}'),
    )
    for name, path in configs.items():
        add(f"train/config_{name}",
            ["train", "-o", str(out / "run"), "--config", path, "--data", str(inputs / "x.npz")],
            path)  # fmt: skip

    # -- datasets: eval --data, train --data ---------------------------------------------------
    dataset_files = {
        "declared_huge": file(
            "huge.npz", _zip({"voxels.npy": _npy_header((10**5, 64, 64, 64), "|u1")})
        ),
        "object_voxels": file("object.npz", _zip({"voxels.npy": _npy(np.array([None], object))})),
        "complex_voxels": file(
            "complex.npz", _zip({"voxels.npy": _npy(np.zeros((2, 8, 8, 8), np.complex64))})
        ),
        "float_labels": file(
            "labels.npz",
            _zip(
                {
                    "voxels.npy": _npy(np.ones((2, 32, 32, 32), np.uint8)),
                    "labels.npy": _npy(np.array([0.5, 1.5])),
                }
            ),
        ),
        "labels_huge": file(
            "labels_huge.npz",
            _zip(
                {
                    "voxels.npy": _npy(np.ones((2, 32, 32, 32), np.uint8)),
                    "labels.npy": _npy(np.array([0, 10**12])),
                }
            ),
        ),
        "no_voxels": file("none.npz", _zip({"x.npy": _npy(np.ones(3))})),
        "zip_bomb_declared": file("bomb.npz", _zip_declaring("voxels.npy", 2**40)),
        "not_zip": file("text.npz", "hello"),
        "fifo": fifo("pipe.npz"),
    }
    grids = np.zeros((4, 32, 32, 32), np.uint8)
    dataset_files.update(
        no_shapes=file("no_shapes.npz", _zip({"voxels.npy": _npy(np.zeros((0, 8, 8, 8), np.uint8))})),
        all_empty=file("all_empty.npz", _zip({"voxels.npy": _npy(grids)})),
        nan_voxels=file("nan_voxels.npz", _zip({"voxels.npy": _npy(np.full((2, 8, 8, 8), np.nan))})),
        repeated_classes=file("repeated.npz", _zip({
            "voxels.npy": _npy(grids + 1), "labels.npy": _npy(np.array([0, 1, 0, 1])),
            "class_names.npy": _npy(np.array(["chair", "chair"]))})),
        # class names become a model's, and parts of file names (gan3d sample)
        path_class=file("path_class.npz", _zip({
            "voxels.npy": _npy(grids + 1), "labels.npy": _npy(np.array([0, 1, 0, 1])),
            "class_names.npy": _npy(np.array(["chair", "../../outside"]))})),
    )  # fmt: skip
    for name, path in dataset_files.items():
        add(f"eval/{name}",
            ["eval", good, "--data", path, "--task", "gen", "--device", "cpu"], path)  # fmt: skip
    # -- train: options out of range, and a run folder that cannot be one --------------------
    good_data = file("good.npz", _zip({"voxels.npy": _npy(np.ones((4, 32, 32, 32), np.uint8))}))
    train = ["train", "--kind", "gan", "--data", good_data, "--epochs", "1", "-b", "2"]
    for name, option, value, named in (("limit_zero", "--limit", "0", "limit"),
                                       ("validation_fraction", "--validation-fraction", "1.5",
                                        "validation_fraction"),
                                       ("lr_negative", "--lr-generator", "-1", "lr_generator"),
                                       ("batch_over_data", "-b", "64", "batch")):  # fmt: skip
        add(f"train/{name}", [*train, option, value, "-o", str(out / "t")], named)
    add("train/out_is_a_file", [*train, "-o", good_data], good_data)
    add("train/out_cannot_be_made", [*train, "-o", "/proc/gan3d_run"], "/proc/gan3d_run")
    for name in ("no_shapes", "all_empty", "repeated_classes"):
        path = dataset_files[name]
        add(f"train/{name}", ["train", "--kind", "cvaegan", "--data", path, "-o", str(out / "t")],
            path)  # fmt: skip
    return cases


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_declaring(name: str, size: int, content: bytes | None = None) -> bytes:
    """A zip whose member claims ``size`` uncompressed bytes: a bomb's header with no body,
    or ``content`` (a bomb's body under a header that understates it)."""
    data = _zip({name: _npy_header((size // 8,), "<f8") if content is None else content})
    # Patch the uncompressed size in the local header (offset 22) and the central directory.
    patched = bytearray(data)
    local = patched.find(b"PK\x03\x04")
    central = patched.find(b"PK\x01\x02")
    small = struct.pack("<I", min(size, 2**32 - 1))
    patched[local + 22 : local + 26] = small
    patched[central + 24 : central + 28] = small
    return bytes(patched)


def _noise_binvox(path: Path) -> str:
    """A valid 256^3 .binvox whose 100^3 corner is noise: 1.5 M surface faces to mesh."""
    from gan3d_core.io.binvox import write_binvox

    grid = np.zeros((256, 256, 256), bool)
    grid[:100, :100, :100] = np.random.default_rng(3).random((100, 100, 100)) > 0.5
    return str(write_binvox(path, grid))


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def _symlink(path: Path, target: str) -> Path:
    if not path.is_symlink():
        path.symlink_to(target)
    return path
