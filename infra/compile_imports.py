"""Writes the bytecode of every module sieve's commands and tests import, once, at install, on every core.

`make install` installs with pip's --no-compile: compiling all 2.4 GB of the venv took 46 s, most of it for modules no
command imports. Without it, every first import compiles, and on a fresh clone the test suite's processes (three
xdist workers collecting the same modules, the commands and workers they start) compiled the same modules side by
side: 63 CPU-s more than the same suite with the bytecode written. Importing the modules here writes exactly their
bytecode, in one process per group so that the groups compile on separate cores.

Usage: python infra/compile_imports.py   (with the venv's python; PYTHONDONTWRITEBYTECODE must be unset)
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time

# Import roots in two groups of about equal compile time, each imported in its own process at the same time. Torch's
# group starts with torch; the other imports what needs no torch first, so that by the time it reaches sieve's flows
# (which import the trainer), torch's bytecode is written and not compiled twice.
GROUPS = {
    "torch": [
        "torch.distributed.run",
        "torch.distributed.checkpoint",
        "megatron.core",
        "sieve.trainer",
        "presidio_analyzer",  # spaCy's thinc imports torch
        "presidio_anonymizer",
        "profanity_check",
        "datasets",
    ],
    "pipeline": [
        "apache_beam.runners.portability.fn_api_runner",
        "apache_beam.runners.worker.sdk_worker_main",
        "apache_beam.runners.dask.dask_runner",
        "prefect.server.api.server",
        "prefect.cli",
        "prefect.workers.process",
        "uvicorn",
        "dask.distributed",
        "distributed.cli.dask_worker",
        "distributed.cli.dask_scheduler",
        "moto.server",
        "xdist",
        "sieve.schemas",
        "sieve.filters",
        "sieve.transforms",
        "sieve.flows",
    ],
}


def import_all(roots: list[str]) -> None:
    """Import each root and, for sieve's own packages, every module below it."""
    for root in roots:
        module = importlib.import_module(root)
        if root.startswith("sieve."):
            for info in pkgutil.walk_packages(module.__path__, f"{root}."):
                importlib.import_module(info.name)


def main() -> None:
    if len(sys.argv) > 1:
        import_all(GROUPS[sys.argv[1]])
        return
    if sys.dont_write_bytecode:
        sys.exit("compile_imports: PYTHONDONTWRITEBYTECODE is set, so no bytecode would be written; unset it")
    start = time.perf_counter()
    # The libraries' import-time warnings are noise here: a group's output is shown only if it fails.
    procs = {
        name: subprocess.Popen([sys.executable, __file__, name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for name in GROUPS
    }
    for name, proc in procs.items():
        output = proc.communicate()[0]
        if proc.returncode:
            sys.exit(f"compile_imports: importing the {name} modules failed:\n{output.decode(errors='replace')}")
    print(f"bytecode written for the modules sieve imports ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
