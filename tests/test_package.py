"""The package installs under the sieve namespace only: no bare `flows`, `filters`, ... that would shadow or be
shadowed by the PyPI packages of those names."""

from __future__ import annotations

import subprocess
import sys

BARE = ["flows", "filters", "schemas", "transforms", "trainer"]


def test_only_sieve_namespaced_modules_are_importable_from_a_neutral_directory(tmp_path):
    probe = (
        "import importlib.util as u, sieve.flows.cli, sieve.filters.base, sieve.schemas.config, "
        "sieve.transforms.storage, sieve.trainer\n"
        f"print(sorted(n for n in {BARE!r} if u.find_spec(n) is not None))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_console_script_points_into_the_namespace():
    from importlib.metadata import entry_points

    [script] = [e for e in entry_points(group="console_scripts") if e.name == "sieve"]
    assert script.value == "sieve.flows.cli:main"
