"""Shared by the benchmark scripts: where and how their JSON reports are written."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(path: str | Path, report: dict) -> None:
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f"wrote {output}")
