"""Import contracts: gan3d_core stays Qt-free, and the app's GUI process never loads torch
(the engine process does), so the window opens while torch loads on another core."""

from __future__ import annotations

import json
import subprocess
import sys

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
