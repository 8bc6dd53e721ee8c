"""Corpus-level MinHash dedup: sieve's dedup pass against datatrove 0.10.1's MinHash pipeline, side by side on the
same documents with the same shingles, bands and rows, both scored against the synthetic truth (issue 15).

    .venv/bin/python bench/dedup.py --docs 100000 --files 8 --workers 2

Steps: `sieve synth` writes the corpus and its labelled pairs; `sieve run` (dedup off) extracts it; its kept rows
are cut into --files Parquet files, the input of both tools. sieve's side is its dedup pass (Beam jobs: documents
-> candidates -> verified edges; components; clusters; lines; spans); datatrove's is bench/dedup_datatrove.py in
its own venv (bench/.venv-datatrove, made by bench/quality.py). Prints a table and writes bench/results/dedup.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sieve.filters import dedup as d
from sieve.flows.report import markdown_table
from sieve.flows.tools.dedup_eval import read_pairs, score
from sieve.schemas.config import load_config
from sieve.transforms import storage
from sieve.transforms.corpus import CorpusJobs, run_passes
from sieve.transforms.dedup import Dedup
from sieve.transforms.parquet import done_marker, shard_path

ROOT = Path(__file__).resolve().parent
DATATROVE = ROOT / ".venv-datatrove" / "bin" / "python"


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def prepare(work: Path, docs: int, files: int, workers: int) -> tuple[Path, list[Path]]:
    """The synthetic corpus and its kept rows cut into `files` Parquet files (made once per size)."""
    synth, split = work / "synth", work / f"split-{files}"
    if not (synth / "dedup_pairs.jsonl").exists():
        _sh(sys.executable, "-m", "sieve.flows.cli", "synth", "--output", str(synth), "--docs", str(docs))
    if not split.exists():
        config = work / "no-dedup.yaml"
        config.write_text("dedup: {enabled: false}\n")
        out = work / "run"
        _sh(
            sys.executable,
            "-m",
            "sieve.flows.cli",
            "run",
            "--input",
            str(synth / "corpus.warc.gz"),
            "--output",
            str(out),
            "--config",
            str(config),
            "--workers",
            str(workers),
            "--force",
        )
        kept = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("runs/*/kept/*.parquet"))])
        split.mkdir(parents=True)
        size = -(-kept.num_rows // files)
        for i in range(files):
            pq.write_table(kept.slice(i * size, size), split / f"part-{i:02d}.parquet")
    return synth, sorted(split.glob("*.parquet"))


def run_sieve(parts: list[Path], work: Path, workers: int) -> tuple[dict, dict[str, str]]:
    """sieve's dedup pass over the parts as committed files; (its statistics and seconds, url -> cluster)."""
    run = work / "sieve" / "runs" / "r"
    if run.exists():
        storage.delete_tree(str(run))
    markers = {}
    for part in parts:
        name = part.stem + ".warc.gz"
        uri = shard_path(str(run), "kept", name)
        storage.write_bytes(uri, part.read_bytes())
        rows = pq.read_metadata(part).num_rows
        markers[name] = {
            "name": name,
            "sha256": part.stem,
            "read": rows,
            "kept": rows,
            "dropped": {},
            "skipped": {},
            "shards": {"kept": {"path": storage.relative(uri, str(run)), "rows": rows, "bytes": 0}},
        }
        storage.write_text(done_marker(str(run), name), json.dumps(markers[name]))
    cfg = load_config()
    start = time.perf_counter()
    jobs = CorpusJobs.of(cfg, "DirectRunner", workers)
    stats = run_passes(str(run), markers, [Dedup(cfg)], cfg.output, jobs)["dedup"]
    total = time.perf_counter() - start
    clusters = {}
    for m in markers.values():
        for kind, shard in m["shards"].items():
            t = pq.read_table(
                run / shard["path"],
                columns=["url", "doc_id", "dup_cluster_id"] + (["stage"] if kind == "dropped" else []),
            )
            for row in t.to_pylist():
                clusters[row["url"]] = row["dup_cluster_id"] or f"single:{row['doc_id']}"
    return {**stats, "total_seconds": total}, clusters


def run_datatrove(parts: list[Path], work: Path, workers: int, bands: int, rows: int) -> tuple[dict, dict[str, str]]:
    out, dt_work = work / "datatrove.json", work / f"datatrove-{time.time_ns()}"
    subprocess.run(
        [
            str(DATATROVE),
            str(ROOT / "dedup_datatrove.py"),
            "--input",
            str(parts[0].parent),
            "--work",
            str(dt_work),
            "--workers",
            str(workers),
            "--ngrams",
            "5",
            "--buckets",
            str(bands),
            "--rows",
            str(rows),
            "--output",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result = json.loads(out.read_text())
    storage.delete_tree(str(dt_work))
    urls = {}
    for part in parts:
        t = pq.read_table(part, columns=["doc_id", "url"])
        urls.update(zip(t["doc_id"].to_pylist(), t["url"].to_pylist()))
    clusters = {url: f"single:{doc_id}" for doc_id, url in urls.items()}
    clusters.update({urls[doc_id]: f"dt:{cluster}" for doc_id, cluster in result["clusters"].items()})
    return result, clusters


def signature_rate(parts: list[Path]) -> float:
    """Signatures alone, one core: documents per second (normalize, shingle, MinHash)."""
    texts = [t for p in parts for t in pq.read_table(p, columns=["text"])["text"].to_pylist()][:20000]
    hasher = d.MinHasher(d.permutations(128, 1))
    start = time.perf_counter()
    hasher.signatures([hasher.shingle_hashes(d.words(t, False), 5) for t in texts])
    return len(texts) / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / "results" / "dedup-work")
    args = ap.parse_args()
    work = args.work / str(args.docs)
    work.mkdir(parents=True, exist_ok=True)
    synth, parts = prepare(work, args.docs, args.files, args.workers)
    documents = sum(pq.read_metadata(p).num_rows for p in parts)
    pairs = read_pairs(str(synth / "dedup_pairs.jsonl"))
    near = load_config().dedup.near
    bands, rows = d.lsh_params(near.threshold, near.num_perm, near.false_positive_weight, near.false_negative_weight)
    sieve_stats, sieve_clusters = run_sieve(parts, work, args.workers)
    sieve_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dt, dt_clusters = run_datatrove(parts, work, args.workers, bands, rows)
    results = {}
    for tool, clusters in (("sieve", sieve_clusters), ("datatrove", dt_clusters)):
        s = score(pairs, clusters, near.threshold, 0.6)
        results[tool] = {
            "precision": s.precision,
            "recall": s.recall,
            "exact_found": s.exact_found,
            "exact_pairs": s.exact_pairs,
            "false_merges": s.fp,
            "distinct_pairs": s.fp + s.tn,
        }
    minhash_seconds = sum(sieve_stats["seconds"][k] for k in ("documents", "components", "clusters"))
    table = [
        [
            "sieve (MinHash: documents, components, clusters)",
            f"{minhash_seconds:.1f}",
            f"{documents / minhash_seconds:.0f}",
            f"{results['sieve']['precision']:.4f}",
            f"{results['sieve']['recall']:.4f}",
            f"{results['sieve']['exact_found']}/{results['sieve']['exact_pairs']}",
            str(results["sieve"]["false_merges"]),
        ],
        [
            "sieve, whole pass (+ lines, spans, shards rewritten)",
            f"{sieve_stats['total_seconds']:.1f}",
            f"{documents / sieve_stats['total_seconds']:.0f}",
            "",
            "",
            "",
            "",
        ],
        [
            "datatrove 0.10.1 (signatures, buckets, cluster, filter)",
            f"{dt['seconds']['total']:.1f}",
            f"{dt['docs_per_s']:.0f}",
            f"{results['datatrove']['precision']:.4f}",
            f"{results['datatrove']['recall']:.4f}",
            f"{results['datatrove']['exact_found']}/{results['datatrove']['exact_pairs']}",
            str(results["datatrove"]["false_merges"]),
        ],
    ]
    print(f"{documents} documents in {len(parts)} files, {args.workers} workers, {bands} bands x {rows} rows")
    print(
        "\n".join(
            markdown_table(["", "seconds", "docs/s", "precision", "recall", "exact pairs", "false merges"], table)
        )
    )
    print(f"speed ratio sieve/datatrove: {dt['seconds']['total'] / minhash_seconds:.2f}x")
    print("sieve seconds by job:", sieve_stats["seconds"], f"(whole pass {sieve_stats['total_seconds']:.1f} s)")
    print("datatrove seconds by stage:", dt["seconds"])
    print(
        f"signatures alone, one core: {signature_rate(parts):.0f} docs/s; peak RSS of this process {sieve_rss:.0f} MB"
    )
    out = ROOT / "results" / "dedup.json"
    out.write_text(
        json.dumps(
            {
                "documents": documents,
                "files": len(parts),
                "workers": args.workers,
                "bands": bands,
                "rows": rows,
                "sieve": {
                    **results["sieve"],
                    "seconds": sieve_stats["seconds"],
                    "minhash_seconds": minhash_seconds,
                    "pass_seconds": sieve_stats["total_seconds"],
                    "component_rounds": sieve_stats["component_rounds"],
                    "clusters": sieve_stats["clusters"],
                },
                "datatrove": {**results["datatrove"], "seconds": dt["seconds"]},
            },
            indent=1,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
