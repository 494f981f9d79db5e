"""The manifest parser under atheris (libFuzzer, coverage-guided): a bounded run of
tests/fuzz/fuzz_manifest.py from the seed corpus, which must end without a crash (issue 9, item 4).

A crash is any exception the harness does not expect: parse() raising other than a 4xx
RegistryError (RecursionError on deep nesting, TypeError on a wrong shape) or client_json.loads
disagreeing with json.loads. libFuzzer then writes the input to ``crash-*``; the test shows it.
Deterministic: a fixed seed and number of runs (``REGISTRY_APP_ATHERIS_RUNS``, default 50000).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import missing_dependency

HERE = Path(__file__).parent
RUNS = int(os.environ.get("REGISTRY_APP_ATHERIS_RUNS", "50000"))


def test_manifest_parser_survives_libfuzzer(tmp_path: Path) -> None:
    try:
        import atheris  # noqa: F401
    except ImportError:
        missing_dependency("atheris is not installed (pip install -e 'registry_app[test]')")
    scratch = tmp_path / "corpus"  # libFuzzer adds what it finds to the first directory
    scratch.mkdir()
    cmd = [
        sys.executable,
        str(HERE / "fuzz_manifest.py"),
        f"-runs={RUNS}",
        "-seed=1",
        "-max_len=8192",
        "-rss_limit_mb=2048",
        f"-dict={HERE / 'manifest.dict'}",
        f"-artifact_prefix={tmp_path}/",
        str(scratch),
        str(HERE / "corpus"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    output = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if "Instrumenting" not in line)
    crashes = sorted(tmp_path.glob("crash-*"))
    inputs = [c.read_bytes()[:300] for c in crashes]
    assert proc.returncode == 0 and not crashes, f"crash (exit {proc.returncode}), inputs {inputs}:\n{output[-6000:]}"
    assert f"Done {RUNS} runs" in output, output[-3000:]  # the whole budget ran
