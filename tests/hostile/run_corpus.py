"""Run every crafted case through ``gan3d`` in this one process and judge how it was refused.

``python -m tests.hostile.run_corpus ROOT`` builds the corpus under ROOT, caps this
process's address space at what the imports mapped plus 2 GiB, and runs each case in-process
(one ``import torch`` for all) with a time limit. A case is *refused cleanly* when the command
exits 1 with exactly one stderr line that names the file (or option), no traceback, nothing
new or changed in the output folder and no temporary file left beside the inputs. It prints
one JSON line per case, then the summary line ``N cases: N refused cleanly, 0 ...``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

MEMORY_HEADROOM = 2 << 30  # bytes of address space a case may add to what imports mapped
CASE_SECONDS = 10
VERDICTS = (
    "refused cleanly", "crashed", "not one line", "did not name the file", "wrote files",
    "hung", "ran out of memory",
)  # fmt: skip


class CaseTimeout(BaseException):
    """Raised by the alarm; a BaseException so no ``except Exception`` in the code swallows it."""


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b"<dir>"
        for path in sorted(folder.rglob("*"))
        if not path.is_fifo() and not path.is_symlink()
    }


def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _run(argv: list[str]) -> tuple[object, str, str]:
    """(exit code or verdict, stderr, stdout) of ``gan3d argv`` in this process."""
    from gan3d_core.cli import main

    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        signal.alarm(CASE_SECONDS)
        try:
            code: object = main(argv)
        except SystemExit as exc:
            code = exc.code
        except CaseTimeout:
            code = "hung"
        except MemoryError:
            code = "ran out of memory"
        except BaseException:
            code = "crashed"
            traceback.print_exc()
        finally:
            signal.alarm(0)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        err.seek(0)
        out.seek(0)
        return code, err.read().decode(errors="replace"), out.read().decode(errors="replace")


def judge(case, code: object, stderr: str, wrote: bool) -> str:
    if isinstance(code, str):
        return code
    lines = stderr.strip().splitlines()
    if code != 1 or "Traceback" in stderr:
        return "crashed"
    if len(lines) != 1:
        return "not one line"
    if case.named not in lines[0]:
        return "did not name the file"
    if wrote:
        return "wrote files"
    return "refused cleanly"


def run_corpus(root: Path) -> list[dict]:
    from tests.hostile.make_corpus import build_corpus

    cases = build_corpus(root)
    import gan3d_core.cli
    import gan3d_core.inference  # noqa: F401

    inputs, out = root / "in", root / "out"
    (out / "keep.stl").write_bytes(b"solid keep\nendsolid keep\n")  # a pre-existing output
    limit = _address_space() + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))

    def on_alarm(signum, frame):
        raise CaseTimeout

    signal.signal(signal.SIGALRM, on_alarm)
    results = []
    for case in cases:
        before_out, before_in = _snapshot(out), sorted(os.listdir(inputs))
        started = time.monotonic()
        code, stderr, _stdout = _run(case.argv)
        seconds = time.monotonic() - started
        wrote = _snapshot(out) != before_out or sorted(os.listdir(inputs)) != before_in
        verdict = judge(case, code, stderr, wrote)
        results.append(
            {"case": case.name, "verdict": verdict, "seconds": round(seconds, 2),
             "message": stderr.strip()[-2000:]}
        )  # fmt: skip
    return results


def summary(results: list[dict]) -> str:
    counts = {verdict: 0 for verdict in VERDICTS}
    for result in results:
        counts[result["verdict"]] += 1
    parts = [f"{count} {verdict}" for verdict, count in counts.items()]
    return f"{len(results)} cases: " + ", ".join(parts)


def main() -> int:
    root = Path(sys.argv[1])
    results = run_corpus(root)
    for result in results:
        print(json.dumps(result))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak resident memory {peak / 2**30:.2f} GiB")
    print(summary(results))
    return 0 if all(r["verdict"] == "refused cleanly" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
