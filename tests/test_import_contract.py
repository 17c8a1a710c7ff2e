"""gan3d_core stays Qt-free: importing it loads no Qt, pyvistaqt or app module."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "qtpy", "pyvistaqt", "gan3d_studio", "app")


def test_core_import_loads_no_gui_modules():
    code = (
        "import json, sys, gan3d_core, gan3d_core.cli, gan3d_core.mesh, gan3d_core.io;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    offending = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert offending == []
