"""Turns what the user typed (files, directories, globs) into a checked, checksummed list of WARC files."""
from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

WARC_SUFFIXES = (".warc", ".warc.gz")
MANIFEST = "manifest.json"


class UsageError(Exception):
    """A problem with what the user asked for; the message says what to do. Printed as one line, no traceback."""


@dataclass(frozen=True)
class InputFile:
    path: str
    size: int
    sha256: str

    def as_dict(self) -> dict:
        return asdict(self)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _expand(spec: str) -> list[str]:
    if any(c in spec for c in "*?["):
        matches = [m for m in glob.glob(spec, recursive=True) if os.path.isfile(m)]
        if not matches:
            raise UsageError(f"input glob matches no files: {spec}")
        return matches
    path = Path(spec)
    if path.is_dir():
        found = [str(p) for p in sorted(path.rglob("*")) if p.is_file() and p.name.endswith(WARC_SUFFIXES)]
        if not found:
            raise UsageError(f"input directory has no *.warc or *.warc.gz files: {spec}")
        return found
    if path.is_file():
        if not os.access(path, os.R_OK):
            raise UsageError(f"input file is not readable: {spec}")
        return [spec]
    raise UsageError(f"input not found: {spec} (give a WARC file, a directory of them, or a glob)")


def resolve_inputs(specs: list[str]) -> list[str]:
    """Resolve input specs to absolute, de-duplicated, sorted WARC paths; raises UsageError naming a bad spec."""
    if not specs:
        raise UsageError("no input given: pass --input PATH (a WARC file, a directory or a glob)")
    return sorted({os.path.abspath(p) for spec in specs for p in _expand(spec)})


def plan_inputs(specs: list[str]) -> list[InputFile]:
    """The resolved input files with their size and SHA-256, as recorded in the manifest."""
    return [InputFile(path=p, size=os.path.getsize(p), sha256=_sha256(p)) for p in resolve_inputs(specs)]


def check_output(output: str) -> Path:
    """Fail early, with what to do, when output cannot receive a run; returns its absolute path."""
    out = Path(output).absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(f"output exists and is not a directory: {output}")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise UsageError(f"output directory is not empty and is not a sieve output: {output} (choose a new directory)")
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"cannot create the output directory {output}: {blocker} is a file (choose a writable location)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the output directory {output}: {e.strerror} (choose a writable location)") from None
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"cannot write the output directory {output}: permission denied (choose a writable location)")
    return out
