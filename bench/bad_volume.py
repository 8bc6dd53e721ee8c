"""Bad input at volume (issue 27, item 6): one big WARC of real records with corrupt gzip members spliced in, run
through `sieve run` as a user runs it, with every record accounted for and the memory of every process watched.

The WARC (--size-mb, default 1000) is the real records of ../shared/data/warc/*.warc.gz written again as one gzip
member each, cycling, each with a fresh WARC-Record-ID and target URL (so they are distinct documents); every
--every-mb it splices in one corrupt record, the kinds in turn:
  bad_gzip        a real record's gzip member with its deflate data overwritten, or cut in half (next member follows)
  length_long     a real record whose WARC Content-Length is 5000 bytes too long (it would swallow the next record)
  length_short    ... too short (it would cut the record)
  binary_random   an HTTP response declared text/html whose payload is random bytes
  binary_png      ... a PNG image
  binary_zip      ... a zip archive of real pages
and --huge records of --huge-mb (default 50) of real HTML (article pages concatenated), spread over the file.
Seeded, so the same arguments write the same file. Then `sieve run --workers 2` on it (default config unless
--config), polling the RSS of every process in the command's tree every 0.5 s from /proc, and checks: exit 0, no
"Traceback" in the output, manifest read == records written, kept + dropped + skipped == read, and every record
found by its offset in the kept or dropped shards (skipped types by count) with the outcome its kind must have.

    python bench/bad_volume.py [--size-mb 1000] [--work /tmp/sieve-bad-volume] [--config lighter.yaml]
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import random
import re
import resource
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pyarrow.parquet as pq
from fastwarc.warc import ArchiveIterator

from sieve.flows.synth.warc import WarcWriter, http_response, record_id

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "warc"
RESULTS = ROOT / "bench" / "results" / "bad_volume.json"
SIEVE = str(Path(sys.executable).parent / "sieve")
KINDS = ["bad_gzip", "length_long", "length_short", "binary_random", "binary_png", "binary_zip"]
# What each spliced kind must come out as (stage/reason); binary payloads must only not be kept.
EXPECTED = {
    "bad_gzip": "read/corrupt_member",
    "length_long": "read/bad_content_length",
    "length_short": "read/bad_content_length",
    "huge": "read/too_large",
}
REWRITTEN = {"WARC-Type", "WARC-Date", "WARC-Record-ID", "WARC-Block-Digest", "Content-Type", "Content-Length"}
MB = 1 << 20


def real_records() -> list[tuple[str, datetime, list[tuple[str, str]], bytes]]:
    """(WARC type, date, other headers, block) of every whole record of the real files."""
    records = []
    for path in sorted(glob.glob(str(REAL / "*.warc.gz"))):
        for record in ArchiveIterator(open(path, "rb"), parse_http=False):
            block = record.reader.read()
            if len(block) == record.content_length:  # the clipped file's last record is cut
                headers = [(k, v) for k, v in record.headers.items() if k not in REWRITTEN]
                date = record.record_date or datetime(2024, 1, 1, tzinfo=UTC)  # ClueWeb 0.18 dates do not parse
                records.append((record.headers["WARC-Type"], date, headers, block))
    return records


def member(warc_type: str, rng: random.Random, moment: datetime, headers: list, block: bytes, ctype: str) -> bytes:
    """One record as one gzip member, written by the synthetic corpus' writer."""
    out = io.BytesIO()
    WarcWriter(out).write(warc_type, record_id(rng), moment, ctype, block, headers)
    return out.getvalue()


def wrong_length(data: bytes, delta: int) -> bytes:
    """The member with its record's WARC Content-Length moved by delta."""
    record = zlib.decompress(data, wbits=31)
    head, rest = record.split(b"\r\n\r\n", 1)
    head = re.sub(rb"Content-Length: (\d+)", lambda m: b"Content-Length: %d" % (int(m[1]) + delta), head)
    return zlib.compress(head + b"\r\n\r\n" + rest, 6, wbits=31)


def png(rng: random.Random, side: int = 256) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def zipped(pages: list[bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i, page in enumerate(pages):
            z.writestr(f"page-{i}.html", page)
    return out.getvalue()


def bodies(records: list) -> list[bytes]:
    """The HTML bodies of the real responses."""
    return [b.split(b"\r\n\r\n", 1)[-1] for t, _, _, b in records if t == "response" and b"<html" in b[:4096].lower()]


def write_warc(path: Path, size_mb: int, every_mb: float, huge: int, huge_mb: int, seed: int) -> list[dict]:
    """Write the WARC; returns one entry per record written: offset, kind (real or a spliced kind), WARC type."""
    rng = random.Random(seed)
    records = real_records()
    pages = bodies(records)
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    html = [("Content-Type", "text/html; charset=utf-8")]
    http = "application/http; msgtype=response"
    target, written = size_mb * MB, []
    huge_at = [target * (i + 0.5) / huge for i in range(huge)]
    next_bad, n, spliced = every_mb * MB, 0, 0
    responses = [r for r in records if r[0] == "response"]

    def response(body: bytes) -> bytes:
        url = [("WARC-Target-URI", f"https://bad-volume.example/{n}")]
        return member("response", rng, moment, url, http_response(200, html, body, moment), http)

    def real(record: tuple) -> tuple[str, bytes]:
        warc_type, date, headers, block = record
        headers = [(k, f"{v}{'&' if '?' in v else '?'}copy={n}" if k == "WARC-Target-URI" else v) for k, v in headers]
        ctype = "application/http; msgtype=" + warc_type if warc_type in ("request", "response") else "text/plain"
        return warc_type, member(warc_type, rng, date, headers, block, ctype)

    with open(path, "wb") as f:
        while f.tell() < target:
            kind = "real"
            if huge_at and f.tell() >= huge_at[0]:
                huge_at.pop(0)
                kind, body = "huge", b""
                while len(body) < huge_mb * MB:
                    body += pages[rng.randrange(len(pages))]
                warc_type, data = "response", response(body)
            elif f.tell() >= next_bad:
                next_bad += every_mb * MB
                kind = KINDS[spliced % len(KINDS)]
                spliced += 1
                warc_type, data = real(rng.choice(responses))
                if kind == "bad_gzip" and rng.random() < 0.5:
                    data = data[: len(data) // 2]
                elif kind == "bad_gzip":
                    at = len(data) // 2
                    data = data[:at] + rng.randbytes(64) + data[at + 64 :]
                elif kind.startswith("length"):
                    data = wrong_length(data, 5000 if kind == "length_long" else -min(5000, len(data) // 4))
                elif kind == "binary_random":
                    warc_type, data = "response", response(rng.randbytes(256 << 10))
                elif kind == "binary_png":
                    warc_type, data = "response", response(png(rng))
                else:
                    warc_type, data = "response", response(zipped(pages[:20]))
            else:
                warc_type, data = real(records[n % len(records)])
            written.append({"offset": f.tell(), "kind": kind, "type": warc_type})
            f.write(data)
            n += 1
    return written


def kind_of(pid: int, root: int, cmd: str) -> str:
    if pid == root:
        return "launcher"
    if "sdk_worker_main" in cmd:
        return "beam worker"
    if "supervise import serve" in cmd:
        return "range child"
    if "prefect" in cmd or "uvicorn" in cmd or "server" in cmd:
        return "prefect server"
    return "other: " + " ".join(cmd.split()[:3])[:60]


def watch(root: int, samples: list, stop: threading.Event) -> None:
    """Every 0.5 s: (seconds, {pid: (kind, RSS kB)}) of the command's process tree (psutil, as bench/scale.py)."""
    start, top = time.perf_counter(), psutil.Process(root)
    while not stop.is_set():
        now = {}
        with suppress(psutil.Error):  # the command has ended
            for proc in [top, *top.children(recursive=True)]:
                with suppress(psutil.Error):  # this process has ended
                    now[proc.pid] = (kind_of(proc.pid, root, " ".join(proc.cmdline())), proc.memory_info().rss // 1024)
        samples.append((time.perf_counter() - start, {p: v for p, v in now.items() if v[1]}))
        stop.wait(0.5)


def memory(samples: list) -> dict[str, dict]:
    """Per process kind: processes seen, peak RSS of any one, and (memory flat) the peak over the first and over the
    last quarter of each process's own life, the highest of each over the kind's processes."""
    lives: dict[int, list[tuple[float, str, float]]] = defaultdict(list)
    for t, procs in samples:
        for pid, (kind, kb) in procs.items():
            lives[pid].append((t, kind, kb / 1024))
    out: dict[str, dict] = defaultdict(lambda: {"processes": 0, "peak_mb": 0.0, "first_q_mb": 0.0, "last_q_mb": 0.0})
    for life in lives.values():
        row, (born, kind, _), died = out[life[0][1]], life[0], life[-1][0]
        quarter = (died - born) / 4
        row["processes"] += 1
        row["peak_mb"] = round(max(row["peak_mb"], *(mb for _, _, mb in life)), 1)
        row["first_q_mb"] = round(max(row["first_q_mb"], *(mb for t, _, mb in life if t <= born + quarter)), 1)
        row["last_q_mb"] = round(max(row["last_q_mb"], *(mb for t, _, mb in life if t >= died - quarter)), 1)
    return dict(sorted(out.items()))


def run(warc: Path, out: Path, log: Path, config: str | None) -> dict:
    cmd = [SIEVE, "run", "--input", str(warc), "--output", str(out), "--workers", "2"]
    cmd += ["--config", config] if config else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        samples, stop = [], threading.Event()
        watcher = threading.Thread(target=watch, args=(proc.pid, samples, stop))
        watcher.start()
        rc = proc.wait()
        stop.set()
        watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "command": " ".join(cmd),
        "rc": rc,
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(cpu, 1),
        "memory": memory(samples),
    }


def outcomes(out: Path) -> tuple[dict, dict[int, list[str]]]:
    """The manifest, and each kept or dropped row's outcome by WARC offset."""
    manifest = json.loads((out / "manifest.json").read_text())
    found: dict[int, list[str]] = defaultdict(list)
    for kind in ("kept", "dropped"):
        for shard in manifest["shards"][kind]:
            columns = ["warc_offset"] + (["stage", "reason"] if kind == "dropped" else [])
            table = pq.read_table(out / shard["path"], columns=columns).to_pydict()
            for i, offset in enumerate(table["warc_offset"]):
                found[offset].append("kept" if kind == "kept" else f"{table['stage'][i]}/{table['reason'][i]}")
    return manifest, found


def check(written: list[dict], manifest: dict, found: dict[int, list[str]], log: str, rc: int) -> tuple[dict, list]:
    """Outcomes per written kind, and the failed checks."""
    counts, failures = manifest["counts"], []
    per_kind: dict[str, Counter] = defaultdict(Counter)
    skipped_written = Counter()
    for w in written:
        if w["type"] != "response" and w["kind"] == "real":
            skipped_written[w["type"]] += 1
            per_kind[w["kind"]]["skipped"] += 1
            continue
        got = found.get(w["offset"], [])
        per_kind[w["kind"]][got[0] if len(got) == 1 else f"found {len(got)} times"] += 1
    if rc != 0:
        failures.append(f"exit {rc}")
    if "Traceback" in log:
        failures.append("a Traceback in the output")
    if counts["read"] != len(written):
        failures.append(f"manifest read {counts['read']} != {len(written)} records written")
    if counts["kept"] + counts["dropped"] + counts["skipped"] != counts["read"]:
        failures.append(f"kept + dropped + skipped != read: {counts}")
    if manifest["skipped_by_type"] != dict(skipped_written):
        failures.append(f"skipped {manifest['skipped_by_type']} != written {dict(skipped_written)}")
    for kind, got in per_kind.items():
        if any(o.startswith("found") for o in got):
            failures.append(f"{kind}: records not found exactly once: {dict(got)}")
        if kind in EXPECTED and set(got) != {EXPECTED[kind]}:
            failures.append(f"{kind}: {dict(got)}, expected all {EXPECTED[kind]}")
        if kind.startswith("binary") and got["kept"]:
            failures.append(f"{kind}: {got['kept']} kept")
    return {k: dict(v) for k, v in sorted(per_kind.items())}, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--work", default="/tmp/sieve-bad-volume", help="where the WARC, output and log are written")
    ap.add_argument("--every-mb", type=float, default=4, help="one corrupt record per this many MB")
    ap.add_argument("--huge", type=int, default=None, help="50 MB records (default: one per 300 MB, at least 1)")
    ap.add_argument("--huge-mb", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default=None, help="a config file for the run (default: the default config)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    warc, out, log = work / f"bad-{args.size_mb}mb.warc.gz", work / "out", work / "run.log"
    huge = args.huge if args.huge is not None else max(1, args.size_mb // 300)
    start = time.perf_counter()
    written = write_warc(warc, args.size_mb, args.every_mb, huge, args.huge_mb, args.seed)
    (work / "written.json").write_text(json.dumps(written))
    print(
        f"wrote {warc}: {warc.stat().st_size / MB:.0f} MB, {len(written)} records "
        f"in {time.perf_counter() - start:.0f} s: {dict(Counter(w['kind'] for w in written))}",
        file=sys.stderr,
    )
    subprocess.run(["rm", "-rf", str(out)], check=True)
    result = run(warc, out, log, args.config)
    text = log.read_text()
    manifest, found = outcomes(out) if (out / "manifest.json").exists() else ({"counts": {}}, {})
    per_kind, failures = check(written, manifest, found, text, result["rc"]) if found else ({}, ["no manifest"])
    print("\n| process kind | processes | peak RSS MB | peak, first quarter | peak, last quarter |")
    print("|---|---|---|---|---|")
    for kind, m in result["memory"].items():
        print(f"| {kind} | {m['processes']} | {m['peak_mb']} | {m['first_q_mb']} | {m['last_q_mb']} |")
    print("\n| record kind | written | outcomes |")
    print("|---|---|---|")
    written_kinds = Counter(w["kind"] for w in written)
    for kind, got in per_kind.items():
        print(f"| {kind} | {written_kinds[kind]} | {', '.join(f'{o} {n}' for o, n in sorted(got.items()))} |")
    print(
        f"\nrecords written {len(written)}, manifest {manifest['counts']}; wall {result['wall_s']} s, "
        f"CPU {result['cpu_s']} s; checks: {'all passed' if not failures else failures}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "args": vars(args),
                "warc_bytes": warc.stat().st_size,
                "records_written": dict(written_kinds),
                "counts": manifest["counts"],
                "outcomes": per_kind,
                **result,
                "failures": failures,
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
