"""datatrove's MinHash near-duplicate pipeline on sieve's kept Parquet shards, timed stage by stage (issue 15).

The datatrove side of the MinHash dedup benchmark: the same documents and parameters as sieve's MinHash stage.
Runs datatrove 0.10.1's four MinHash stages, each its own LocalPipelineExecutor.run() (so each is timed alone):
  signatures  ParquetReader (text_key="text", id_key="doc_id", only those two columns) -> MinhashDedupSignature;
              tasks = input files, --workers at a time
  buckets     MinhashDedupBuckets; tasks = buckets, --workers at a time
  cluster     MinhashDedupCluster(save_cluster_id=True); one task, as datatrove requires
  filter      ParquetReader (the same two columns) -> MinhashDedupFilter(load_cluster_ids=True, exclusion_writer=JsonlWriter)
              -> ParquetWriter (kept docs); tasks = input files, --workers at a time
Everything else is datatrove's default: 64-bit xxhash, seed 1, its text normalization, and its word tokenizer
for its default language (English: spaCy blank "en"), applied to every document whatever its language.

The clusters mapping comes from the cluster stage's .clusters files, not from the filter's document metadata:
the filter skips a task that has no .remove file and so leaves the cluster id off its kept representatives.
Those files name documents by (task, index among the task's documents with text); the same ParquetReader,
run once per task before the timed stages, maps them back to doc_id, which must be unique across the input.

Needs pyarrow in the datatrove venv (ParquetReader and ParquetWriter import it).

    bench/.venv-datatrove/bin/python bench/dedup_datatrove.py --input DIR_OR_GLOB --work DIR --workers 2 \
        --ngrams 5 --buckets 14 --rows 8 --output result.json
    bench/.venv-datatrove/bin/python bench/dedup_datatrove.py --self-test
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import gzip
import json
import os
import struct
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
from datatrove.utils.hashing import HashConfig

STAGES = ("signatures", "buckets", "cluster", "filter")


def input_files(spec: str) -> list[Path]:
    """The Parquet files a folder (searched recursively) or a glob names, sorted."""
    found = sorted(Path(spec).rglob("*.parquet")) if Path(spec).is_dir() else sorted(map(Path, glob.glob(spec)))
    if not found:
        raise SystemExit(
            f"no Parquet files at {spec}: pass a folder of sieve's kept shards or a glob of .parquet files"
        )
    return [path.resolve() for path in found]


def write_paths_file(files: list[Path], work: Path) -> tuple[Path, Path]:
    """The files' common folder and a file listing them relative to it, one a line: task i reads line i."""
    root = Path(os.path.commonpath([path.parent for path in files]))
    paths_file = work / "input-paths.txt"
    paths_file.write_text("".join(f"{path.relative_to(root)}\n" for path in files))
    return root, paths_file


def reader(root: Path, paths_file: Path) -> ParquetReader:
    """datatrove's Parquet reader on sieve's shards: doc_id is the document id, text the text, and nothing else
    (with read_metadata, datatrove's ParquetWriter infers a schema from its first batch and fails on sieve's
    nested columns, pii_counts among them)."""
    return ParquetReader(str(root), paths_file=str(paths_file), text_key="text", id_key="doc_id", read_metadata=False)


def run_stages(
    root: Path, paths_file: Path, tasks: int, work: Path, workers: int, config: MinhashConfig
) -> dict[str, float]:
    """Run the four MinHash stages under work/, one executor each; wall seconds per stage."""
    executors = {
        "signatures": LocalPipelineExecutor(
            [reader(root, paths_file), MinhashDedupSignature(str(work / "signatures"), config)],
            tasks=tasks,
            workers=workers,
            logging_dir=str(work / "logs" / "signatures"),
        ),
        "buckets": LocalPipelineExecutor(
            [MinhashDedupBuckets(str(work / "signatures"), str(work / "buckets"), config=config)],
            tasks=config.num_buckets,
            workers=workers,
            logging_dir=str(work / "logs" / "buckets"),
        ),
        "cluster": LocalPipelineExecutor(
            [MinhashDedupCluster(str(work / "buckets"), str(work / "remove_ids"), config=config, save_cluster_id=True)],
            tasks=1,
            workers=1,
            logging_dir=str(work / "logs" / "cluster"),
        ),
        "filter": LocalPipelineExecutor(
            [
                reader(root, paths_file),
                MinhashDedupFilter(
                    str(work / "remove_ids"), exclusion_writer=JsonlWriter(str(work / "removed")), load_cluster_ids=True
                ),
                ParquetWriter(str(work / "kept")),
            ],
            tasks=tasks,
            workers=workers,
            logging_dir=str(work / "logs" / "filter"),
        ),
    }
    seconds = {}
    for stage in STAGES:
        start = time.perf_counter()
        executors[stage].run()
        seconds[stage] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    return seconds


def document_index(root: Path, paths_file: Path, tasks: int) -> dict[tuple[int, int], str]:
    """(task, index) -> doc_id, numbered as the MinHash stages number them (the reader skips docs without text)."""
    index, seen = {}, {}
    for task in range(tasks):
        for i, doc in enumerate(reader(root, paths_file).run(None, task, tasks)):
            if doc.id in seen:
                raise SystemExit(
                    f"doc_id {doc.id} is in {doc.metadata['file_path']} and {seen[doc.id]}: results "
                    "are keyed by doc_id, so give each copy of a record its own WARC-Record-ID"
                )
            seen[doc.id] = doc.metadata["file_path"]
            index[(task, i)] = doc.id
    return index


def cluster_ids(remove_ids: Path, index: dict[tuple[int, int], str]) -> dict[str, int]:
    """doc_id -> cluster id for every member of a cluster, read from the cluster stage's <task>.clusters files."""
    clusters = {}
    for path in sorted(remove_ids.glob("*.clusters")):
        task = int(path.name.removesuffix(".clusters"))
        for doc, cluster in struct.iter_unpack("<2I", path.read_bytes()):
            clusters[index[(task, doc)]] = cluster
    return clusters


def removed_ids(removed: Path) -> list[str]:
    """doc_ids the filter stage sent to its exclusion writer, sorted."""
    return sorted(json.loads(line)["id"] for part in removed.glob("*.jsonl.gz") for line in gzip.open(part, "rt"))


def benchmark(files: list[Path], work: Path, workers: int, ngrams: int, buckets: int, rows: int) -> dict:
    """Run datatrove's MinHash dedup on the files and return the result record (see the module docstring)."""
    if work.exists() and any(work.iterdir()):
        raise SystemExit(
            f"--work {work} is not empty: datatrove skips tasks it finds completed there, so give a new or empty folder"
        )
    work.mkdir(parents=True, exist_ok=True)
    config = MinhashConfig(
        n_grams=ngrams, num_buckets=buckets, hashes_per_bucket=rows, hash_config=HashConfig(precision=64)
    )
    root, paths_file = write_paths_file(files, work)
    index = document_index(root, paths_file, len(files))  # first, so a bad input fails before the timed run
    seconds = run_stages(root, paths_file, len(files), work, workers, config)
    return {
        "tool": "datatrove",
        "version": version("datatrove"),
        "params": {
            "n_grams": ngrams,
            "num_buckets": buckets,
            "hashes_per_bucket": rows,
            "seed": config.seed,
            "hash": str(config.hash_config),
            # LSH candidate threshold: Jaccard at which a pair is caught with probability about 1/2.
            "jaccard_threshold": round((1 / buckets) ** (1 / rows), 3),
            "normalization": dataclasses.asdict(config.norm_config),
            "word_tokenizer": "datatrove default for language 'eng' (spaCy blank 'en'), used for every document",
            "workers": workers,
            "tasks": len(files),
            "bucket_tasks": buckets,
            "cluster_tasks": 1,
            "kept_writer": "ParquetWriter (snappy)",
            "removed_writer": "JsonlWriter (gzip)",
            "input_files": [str(path) for path in files],
        },
        "documents": len(index),
        "seconds": {stage: round(s, 3) for stage, s in seconds.items()},
        "docs_per_s": round(len(index) / seconds["total"], 1),
        "removed": removed_ids(work / "removed"),
        "clusters": cluster_ids(work / "remove_ids", index),
    }


def print_table(result: dict) -> None:
    """Stage timings, their shares of the total, and the dedup outcome."""
    seconds = result["seconds"]
    print(
        f"\ndatatrove {result['version']} MinHash: {result['documents']} docs, "
        f"{len(result['removed'])} removed, {len(set(result['clusters'].values()))} clusters"
    )
    print(f"{'stage':<12}{'seconds':>10}{'share':>8}")
    for stage in (*STAGES, "total"):
        print(f"{stage:<12}{seconds[stage]:>10.2f}{seconds[stage] / seconds['total']:>8.0%}")
    print(f"{'docs/s':<12}{result['docs_per_s']:>10.1f}")


# --- self-test: hand-written texts with exact and edited copies ---------------------------------------------

ARTICLE_A = (
    "The city council voted on Tuesday to extend the night bus service to the northern suburbs, ending a debate "
    "that had run for almost two years. Supporters said that nurses, cleaners and restaurant staff who finish "
    "work after midnight had no safe way to get home, and that taxis cost more than many of them earn in an hour. "
    "Opponents worried about the price of the new routes and asked whether the buses would carry enough "
    "passengers to justify the drivers' wages. The compromise keeps three of the five proposed lines and reviews "
    "them after twelve months, when the transport office will publish how many people used each stop."
)
ARTICLE_B = (
    "Growing tomatoes on a small balcony is easier than most people think, provided the plants get at least six "
    "hours of direct sun. Choose a deep pot, because the roots spread further than the leaves suggest, and fill "
    "it with a light compost that drains well after heavy rain. Water in the morning rather than the evening so "
    "the leaves dry before night falls, which keeps fungal diseases away. Once the first flowers open, feed the "
    "plant every week with a liquid fertiliser rich in potassium, and pinch out the side shoots that appear "
    "between the main stem and the branches so the energy goes into the fruit."
)
ARTICLE_C = (
    "Researchers at the coastal institute have spent the last decade counting seabirds on a chain of rocky "
    "islands, and their latest report shows a steady fall in the number of nesting pairs. The team believes that "
    "warmer water has pushed the small fish the birds depend on further from the shore, so parents must fly "
    "longer distances to feed their chicks. In some colonies fewer than half of the eggs now produce a bird that "
    "survives its first summer. The scientists want fishing limits near the islands during the breeding season "
    "and say that a few quiet months each year could give the colonies time to recover."
)
ARTICLE_D = (
    "The old railway station reopened last month as a public library after a renovation that kept its iron roof "
    "and tall arched windows. Architects removed the ticket hall partitions to create one long reading room, "
    "and the former platforms now hold a cafe and a children's corner with low shelves and cushions. Local "
    "historians donated photographs of the steam trains that once stopped here, and these hang along the "
    "corridor that leads to the study rooms upstairs. Visitors on the first weekend queued outside the doors, "
    "and the librarians issued more new cards in two days than the old branch did in a whole year."
)
ARTICLE_E = (
    "A good night of sleep depends as much on habits during the day as on the mattress. Doctors recommend going "
    "to bed and getting up at the same time every day, including weekends, so the body learns when to feel "
    "tired. Coffee and strong tea should stop by early afternoon, since caffeine stays in the blood for many "
    "hours. Bright screens late in the evening delay the hormone that signals night, so reading a paper book is "
    "a better way to wind down. A short walk outside in the morning light also helps set the internal clock."
)
ARTICLE_VI = (
    "Sáng nay, Sở Giao thông vận tải thành phố cho biết sẽ mở thêm ba tuyến xe buýt điện nối các khu dân cư mới "
    "ở phía đông với trung tâm. Theo kế hoạch, mỗi tuyến chạy từ năm giờ sáng đến mười giờ tối, tần suất khoảng "
    "mười lăm phút một chuyến vào giờ cao điểm. Người dân có thể thanh toán bằng thẻ từ hoặc mã QR trên điện "
    "thoại. Đại diện Sở cho rằng xe buýt điện giúp giảm khói bụi và tiếng ồn, đồng thời khuyến khích người dân "
    "để xe máy ở nhà khi đi làm. Sau sáu tháng vận hành thử, thành phố sẽ đánh giá lượng khách để quyết định có "
    "mở rộng mạng lưới hay không."
)
# Edited copies: one or two words changed, plus changes datatrove's normalization erases (case, numbers, punctuation).
ARTICLE_B_EDITED = (
    ARTICLE_B.replace("Growing tomatoes", "growing Tomatoes!")
    .replace("six hours", "6 hours")
    .replace("liquid fertiliser", "liquid fertilizer")
)
ARTICLE_C_EDITED = ARTICLE_C.replace("last decade", "past decade").replace("a few quiet months", "some quiet months")
ARTICLE_VI_EDITED = ARTICLE_VI.replace("Sáng nay", "Chiều qua").replace("mười lăm phút", "hai mươi phút")
# Shares only its first half with ARTICLE_D (shingle Jaccard about 0.3): must not be a duplicate.
ARTICLE_D_HALF = ARTICLE_D[: len(ARTICLE_D) // 2] + (
    " The council paid for the work with a grant from the national heritage fund and a loan that the city will "
    "repay over twenty years from the rent of the cafe. Some residents had wanted the building turned into "
    "flats, but a survey found that most people preferred a space open to everyone, free of charge."
)
SHORT = "Read more here."  # fewer words than one 5-gram: datatrove computes no signature for it

# (doc_id, text) per file; the empty text is skipped by the reader and shifts no index.
SELF_TEST_FILES = [
    [("a", ARTICLE_A), ("b", ARTICLE_B), ("c", ARTICLE_C), ("d", ARTICLE_D), ("vi", ARTICLE_VI), ("short-1", SHORT)],
    [("empty", ""), ("a-copy-1", ARTICLE_A), ("b-edited", ARTICLE_B_EDITED), ("e", ARTICLE_E), ("short-2", SHORT)],
    [
        ("a-copy-2", ARTICLE_A),
        ("c-edited", ARTICLE_C_EDITED),
        ("d-half", ARTICLE_D_HALF),
        ("vi-edited", ARTICLE_VI_EDITED),
    ],
]
EXPECTED_CLUSTERS = [{"a", "a-copy-1", "a-copy-2"}, {"b", "b-edited"}, {"c", "c-edited"}, {"vi", "vi-edited"}]
# datatrove keeps the cluster member with the lowest (task, index): here each original in file 0.
EXPECTED_REMOVED = ["a-copy-1", "a-copy-2", "b-edited", "c-edited", "vi-edited"]


def self_test(workers: int) -> int:
    """Run on three small hand-written Parquet files with datatrove's default parameters; 0 when right, else 1."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="dedup-datatrove-") as tmp:
        shards = Path(tmp) / "kept"
        shards.mkdir()
        for i, docs in enumerate(SELF_TEST_FILES):
            pq.write_table(
                pa.table(
                    {
                        "doc_id": [doc_id for doc_id, _ in docs],
                        "text": [text for _, text in docs],
                        "url": [f"https://example.com/{doc_id}" for doc_id, _ in docs],
                        "language": ["vi" if doc_id.startswith("vi") else "en" for doc_id, _ in docs],
                    }
                ),
                shards / f"part-{i:05d}.parquet",
            )
        result = benchmark(input_files(str(shards)), Path(tmp) / "work", workers, ngrams=5, buckets=14, rows=8)
    print_table(result)
    by_id: dict[int, set[str]] = {}
    for doc_id, cluster in result["clusters"].items():
        by_id.setdefault(cluster, set()).add(doc_id)
    found = sorted(by_id.values(), key=min)
    checks = {
        "documents read (the empty text is skipped)": (result["documents"], 14),
        "removed": (result["removed"], EXPECTED_REMOVED),
        "clusters": (found, sorted(EXPECTED_CLUSTERS, key=min)),
    }
    failed = [name for name, (got, want) in checks.items() if got != want]
    for name, (got, want) in checks.items():
        print(
            f"{'ok  ' if name not in failed else 'FAIL'} {name}: got {got}"
            + (f", want {want}" if name in failed else "")
        )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", help="folder of sieve's kept Parquet shards, or a glob of .parquet files")
    parser.add_argument("--work", type=Path, help="new or empty folder for datatrove's intermediate files")
    parser.add_argument("--workers", type=int, default=2, help="tasks run at a time")
    parser.add_argument("--ngrams", type=int, default=5, help="words per shingle")
    parser.add_argument("--buckets", type=int, default=14, help="LSH bands (datatrove num_buckets)")
    parser.add_argument("--rows", type=int, default=8, help="hashes per band (datatrove hashes_per_bucket)")
    parser.add_argument("--output", type=Path, help="where to write the result JSON")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check removed docs and clusters on hand-written texts (5-grams, 14x8); exit 1 if wrong",
    )
    args = parser.parse_args()
    if args.self_test:
        return self_test(args.workers)
    if not (args.input and args.work and args.output):
        parser.error("--input, --work and --output are required (or pass --self-test)")
    result = benchmark(input_files(args.input), args.work, args.workers, args.ngrams, args.buckets, args.rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print_table(result)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
