"""The crafted hostile corpus (tests/hostile/make_corpus.py): every case refused cleanly.

The corpus runs in one child process (one ``import torch``), capped at what its imports
mapped plus 2 GiB of address space, each case with a time limit; see run_corpus.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_every_crafted_case_is_refused_cleanly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.hostile.run_corpus", str(tmp_path / "corpus")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, MALLOC_ARENA_MAX="2", GAN3D_DEBUG=""),
    )
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr[-3000:]
    summary = lines[-1]
    print(summary)  # shown with -s / -rA: "N cases: N refused cleanly, 0 crashed, ..."
    failures = [
        json.loads(line)
        for line in lines
        if line.startswith("{") and json.loads(line)["verdict"] != "refused cleanly"
    ]
    assert not failures, "\n".join(json.dumps(f) for f in failures) + "\n" + summary
    assert result.returncode == 0, result.stderr[-3000:]
    count = len([line for line in lines if line.startswith("{")])
    assert summary.startswith(f"{count} cases: {count} refused cleanly, 0 crashed")
