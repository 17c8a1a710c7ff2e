"""Import contracts: gan3d_core stays Qt-free, and the app's GUI process never loads torch
(the engine process does), so the window opens while torch loads on another core."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

FORBIDDEN_IN_CORE = ("PySide6", "PyQt5", "PyQt6", "qtpy", "pyvistaqt", "gan3d_studio", "app")
FORBIDDEN_IN_GUI = ("torch", "trimesh", "skimage")


def top_level_modules_loaded_by(modules: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after ``import {modules}``."""
    code = f"import json, sys, {modules}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout)}


def test_core_import_loads_no_gui_modules():
    loaded = top_level_modules_loaded_by(
        "gan3d_core, gan3d_core.cli, gan3d_core.mesh, gan3d_core.io"
    )
    assert sorted(loaded & set(FORBIDDEN_IN_CORE)) == []


def test_the_gui_never_imports_torch():
    loaded = top_level_modules_loaded_by("gan3d_studio.main, gan3d_studio.main_window")
    assert sorted(loaded & set(FORBIDDEN_IN_GUI)) == []


def test_pyvistaqt_loads_only_where_its_viewport_draws():
    """Its Qt shims (qtpy) cost 0.2 s of start-up: the native viewport does without them."""
    loaded = top_level_modules_loaded_by("gan3d_studio.main, gan3d_studio.main_window")
    assert sorted(loaded & {"pyvistaqt", "qtpy"}) == []


def test_help_and_info_answer_without_importing_torch(cvaegan_checkpoint):
    """`gan3d --help` and `gan3d info` read no tensor: importing torch alone takes seconds."""
    code = (
        "import contextlib, io, json, sys\n"
        "from gan3d_core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['info', {str(cvaegan_checkpoint)!r}])\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}
    assert "torch" not in loaded


def test_the_layering_contracts_in_pyproject_hold():
    """import-linter's static check of every import, indirect ones included."""
    lint = shutil.which("lint-imports")
    assert lint is not None, "import-linter is a test dependency"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([lint], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]


def test_opening_a_model_leaves_torch_dynamo_unloaded(
    gan_checkpoint, cvaegan_checkpoint, lgan_checkpoint, implicit_checkpoint, multiview_checkpoint
):
    """Importing torch._dynamo takes about 1 s, most of a model's load (the app's start-up
    waits for it); the checkpoint check's skeleton on the meta device must not pull it in."""
    paths = [gan_checkpoint, cvaegan_checkpoint, lgan_checkpoint, implicit_checkpoint]
    paths = [str(path) for path in [*paths, multiview_checkpoint]]
    code = (
        "import json, sys\n"
        "import gan3d_core\n"
        f"for path in [None, *{paths!r}]:\n"
        "    gan3d_core.load_model(path, device='cpu')\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "torch._dynamo" not in json.loads(result.stdout.splitlines()[-1])
