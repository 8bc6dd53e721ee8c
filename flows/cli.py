"""The `sieve` command line: run or deploy the curate flow, generate the synthetic corpus, show the effective config."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shlex
import sys
import time
from pathlib import Path

from sieve.flows import phases
from sieve.flows.deploy import PREFECT_FILE
from sieve.flows.plan import COMMONCRAWL_BASE, check_output, plan_inputs, resolve_latest
from sieve.flows.runners import check_runner
from sieve.schemas.config import ConfigError, load_config
from sieve.schemas.errors import UsageError
from sieve.transforms import storage
from sieve.transforms.layout import MANIFEST
from sieve.transforms.lease import holding
from sieve.transforms.lifecycle import Stopped, stopped_by_signals


def _run(args: argparse.Namespace) -> int:
    from sieve.flows.publish import check_unchanged, config_identity, run_folder, up_to_date
    from sieve.flows.server import PrefectServer

    # imported after _leave is registered: its close runs first
    from sieve.transforms.supervise import has_range_processes, warm_up

    # Started first, so its seconds of start-up overlap the checks and imports; stopped when the command ends.
    with PrefectServer() as server:
        cfg = load_config(args.config)
        identity = config_identity(cfg)  # a blocklist file the config names must be readable
        inputs, output = resolve_latest(args.input, args.output)
        files = plan_inputs(inputs, args.base_url, args.limit_files, args.sample_fraction)
        location = check_output(output)
        _check_numbers(args)
        check_runner(args.runner, cfg.beam.options, output)
        # Taken before the flow starts, so a second run into this output fails at once in one line; the flow holds
        # it on (the same lease, re-entered) until it ends.
        with holding(output, cfg.lease):
            if not args.force:  # likewise an input changed under a resumed run; the flow checks again (deployments)
                run_dir = run_folder(location, identity)
                check_unchanged(run_dir, files)
                if has_range_processes(cfg, args.runner) and not up_to_date(
                    location, files, identity, check_shards=False
                ):
                    # the local job's range processes start now, beside the imports below (about 1.4 s each); not
                    # for a run already published, which the flow skips
                    warm_up(cfg, run_dir, args.workers)
            from sieve.flows.curate import curate
            from sieve.flows.report import REPORT, REPORT_HTML, summary_lines

            server.wait_ready()
            phases.mark("server_ready")
            manifest = curate(
                inputs=inputs,
                output=output,
                config=args.config,
                runner=args.runner,
                workers=args.workers,
                force=args.force,
                limit_files=args.limit_files,
                sample_fraction=args.sample_fraction,
                base_url=args.base_url,
                batch_files=args.batch_files,
            )
    out = output.rstrip("/")
    print("\n".join(summary_lines(manifest)))
    print(
        f"\nshards:   {out}/{manifest['run_dir']}/kept/ and dropped/ (the manifest lists them)\n"
        f"manifest: {out}/{MANIFEST}\nreport:   {out}/{REPORT} and {out}/{REPORT_HTML}"
    )
    return 0


def _check_numbers(args: argparse.Namespace) -> None:
    for flag, value, low in (
        ("--workers", args.workers, 1),
        ("--limit-files", args.limit_files, 1),
        ("--batch-files", args.batch_files, 1),
    ):
        if value is not None and value < low:
            raise UsageError(f"{flag} must be at least {low}, got {value}")
    if args.sample_fraction is not None and not 0 < args.sample_fraction <= 1:
        raise UsageError(f"--sample-fraction must be in (0, 1], got {args.sample_fraction}")


def _synth(args: argparse.Namespace) -> int:
    if args.docs < 1:
        raise UsageError(f"--docs must be at least 1, got {args.docs}")
    if args.reference_docs < 0:
        raise UsageError(f"--reference-docs must be at least 0, got {args.reference_docs}")
    from sieve.flows.synth import write_reference_text, write_synthetic_corpus

    start = time.perf_counter()
    try:
        summary = write_synthetic_corpus(Path(args.output), docs=args.docs, seed=args.seed)
        reference = (
            write_reference_text(Path(args.output), args.reference_docs, args.seed) if args.reference_docs else {}
        )
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror} (choose a writable location)") from None
    print(
        f"wrote {args.docs} documents to {Path(args.output) / 'corpus.warc.gz'} and truth.json "
        f"in {time.perf_counter() - start:.1f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))
    )
    distinct = summary.distinct_pairs_jaccard
    print(
        f"distinct same-topic article pairs: {distinct['sampled']} sampled, word-5-gram Jaccard median "
        f"{distinct['median']:.2f}, p99 {distinct['p99']:.2f}, max {distinct['max']:.2f}"
    )
    print(f"wrote {summary.pairs} labelled exact/near/distinct pairs to {summary.pairs_path} (for measuring dedup)")
    for lang, path in reference.items():
        print(
            f"wrote {args.reference_docs} clean held-out {lang} articles to {path} (reference text for `sieve lm train`)"
        )
    return 0


def _lm_train(args: argparse.Namespace) -> int:
    from sieve.flows.models.kenlm import train

    info = train(args.input, args.lang, args.output, order=args.order, vocab_size=args.vocab_size, memory=args.memory)
    print(
        f"trained {args.lang} model in {args.output}: {info['order']}-gram, vocabulary {info['vocab_size']}, "
        f"{info['training_lines']} lines, {info['training_tokens']} tokens; training-text perplexity "
        + ", ".join(f"p{k} {v}" for k, v in info["perplexity_percentiles"].items())
    )
    return 0


def _quality_train(args: argparse.Namespace) -> int:
    from sieve.flows.models.classifier import train

    train(
        args.positive,
        args.negative,
        args.lang,
        args.output,
        max_docs=args.max_docs,
        seed=args.seed,
        cfg=load_config(args.config),
    )
    print(
        f"use it: quality.classifier.enabled: true, quality.classifier.models.{args.lang}: "
        f"{Path(args.output).absolute() / (args.lang + '.bin')}"
    )
    return 0


def _config_show(args: argparse.Namespace) -> int:
    from sieve.flows.publish import config_identity

    cfg = load_config(args.config)
    print(f"# effective config (hash {config_identity(cfg)})\n{cfg.to_yaml()}", end="")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from sieve.flows.publish import published
    from sieve.flows.tools.explain import explain_record, explain_row, find_record, find_row

    if args.run:
        if args.config:
            raise UsageError("--config goes with --warc; --run explains under the run's own config")
        lines = explain_row(find_row(args.run, args.key), published(args.run)[1])
    else:
        cfg = load_config(args.config)
        lines = explain_record(find_record(args.warc, args.key, cfg), cfg)
    print("\n".join(lines))
    return 0


def _rethreshold(args: argparse.Namespace) -> int:
    from sieve.flows.report import REPORT, REPORT_HTML, summary_lines
    from sieve.flows.tools.rethreshold import rethreshold

    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    manifest = rethreshold(args.run, args.config, args.output, args.workers)
    print("\n".join(summary_lines(manifest)))
    print(
        f"\nre-decided {args.run} under {args.config}: {manifest['counts']['kept']} kept\n"
        f"manifest: {args.output.rstrip('/')}/{MANIFEST}\n"
        f"report:   {args.output.rstrip('/')}/{REPORT} and {args.output.rstrip('/')}/{REPORT_HTML}"
    )
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    import yaml

    from sieve.flows.publish import published
    from sieve.flows.tools.calibrate import calibrate

    snippet, lines = calibrate(published(args.run)[1], args.run, args.lang, args.reference, args.keep, args.tighten)

    base = storage.join(args.output, f"calibrate-{args.lang}")
    storage.write_text(base + ".yaml", yaml.safe_dump(snippet, sort_keys=False, allow_unicode=True))
    storage.write_text(base + ".md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwrote {base}.yaml (merge it into your config) and {base}.md")
    return 0


def _dedup_eval(args: argparse.Namespace) -> int:
    from sieve.flows.tools.dedup_eval import evaluate

    try:
        _, _, report = evaluate(args.run, args.pairs, args.negative_below)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(report)
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json

    from sieve.flows.publish import published
    from sieve.flows.report import REPORT_HTML
    from sieve.flows.report_html import write_html_report
    from sieve.flows.tools.truth_eval import EVAL, evaluate, table_lines

    manifest, cfg = published(args.run)
    with holding(args.run, cfg.lease):  # it rewrites report.html in the output: not while a run writes there
        result = evaluate(args.run, manifest, cfg, args.truth)
        storage.write_text(storage.join(args.run, EVAL), json.dumps(result, indent=1, sort_keys=True) + "\n")
        write_html_report(args.run, manifest, cfg, result)
    out = args.run.rstrip("/")
    print("\n".join(table_lines(result)))
    print(f"\nwrote {out}/{EVAL}; {out}/{REPORT_HTML} now shows it (section: Against the truth)")
    return 0


def _training_config(args: argparse.Namespace):
    """The config's training_data section with the command's overrides (flags beat the file)."""
    cfg = load_config(args.config).training_data
    tokenizer = {k: v for k in ("vocab_size", "model_type", "sample_docs") if (v := getattr(args, k, None)) is not None}
    for flag, value, ok in (
        ("--target-bytes", getattr(args, "target_bytes", None), lambda v: v > 0),
        ("--validation-fraction", getattr(args, "validation_fraction", None), lambda v: 0 <= v < 1),
        ("--vocab-size", tokenizer.get("vocab_size"), lambda v: v > 0),
        ("--sample-docs", tokenizer.get("sample_docs"), lambda v: v > 0),
        ("--workers", getattr(args, "workers", None), lambda v: v >= 1),
    ):
        if value is not None and not ok(value):
            raise UsageError(f"{flag}: {value} is out of range (see `sieve {args.command} --help`)")
    update = {
        k: v for k in ("target_bytes", "validation_fraction", "workers") if (v := getattr(args, k, None)) is not None
    }
    return cfg.model_copy(update={**update, "tokenizer": cfg.tokenizer.model_copy(update=tokenizer)})


def _shards(args: argparse.Namespace) -> int:
    from sieve.trainer.shards import write_training_shards
    from sieve.trainer.sources import MANIFEST

    manifest = write_training_shards(args.input, args.output, _training_config(args), args.tokenizer)
    docs, seconds = manifest["documents"], manifest["seconds"]
    print(
        f"wrote {len(manifest['shards'])} shards of {docs} documents, {manifest['tokens']} {manifest['token_unit']} "
        f"in {seconds:.1f} s ({docs / max(seconds, 1e-9):.0f} docs/s)"
    )
    for shard in manifest["shards"]:
        print(f"  {shard['path']}: {shard['rows']} docs, {shard['tokens']} tokens, {shard['bytes'] / 1e6:.1f} MB")
    print(f"manifest: {args.output.rstrip('/')}/{MANIFEST}")
    return 0


def _tokenizer_train(args: argparse.Namespace) -> int:
    from sieve.trainer.tokenizer import MODEL, train_tokenizer

    start = time.perf_counter()
    info = train_tokenizer(args.input, args.output, _training_config(args).tokenizer)
    print(
        f"trained a {info['model_type']} tokenizer of {info['vocab_size']} pieces (end-of-document id "
        f"{info['eod_id']}) on {info['training_documents']} documents, {info['training_bytes'] / 1e6:.1f} MB, in "
        f"{time.perf_counter() - start:.1f} s\nwrote {Path(args.output) / MODEL} and tokenizer.json"
    )
    return 0


def _tokenize(args: argparse.Namespace) -> int:
    from sieve.trainer.indexed import SUMMARY, tokenize

    result = tokenize(args.input, args.output, _training_config(args), args.tokenizer, args.decontaminate)
    tokens, seconds = result["tokens"], result["seconds"]
    print(
        f"tokenized {result['documents']} documents into {tokens} tokens in {seconds:.1f} s "
        f"({tokens / max(seconds, 1e-9):,.0f} tokens/s, {result['workers']} workers); "
        f"{result['decontaminated']} dropped by decontamination"
    )
    for f in result["files"]:
        print(
            f"  {args.output.rstrip('/')}/{f['prefix']}.bin/.idx/.docs.parquet: {f['documents']} docs, "
            f"{f['tokens']} tokens"
        )
    print(f"summary: {args.output.rstrip('/')}/{SUMMARY}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from sieve.trainer.train import train

    cfg = load_config(args.config).training
    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps: {args.steps} is out of range (at least 1)")
    update = {k: v for k in ("preset", "steps") if (v := getattr(args, k)) is not None}
    train(args.data, args.output, cfg.model_copy(update=update))
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from sieve.flows.deploy import api_url, deploy, summary_lines

    registered = deploy(Path(args.prefect_file))
    print("\n".join(summary_lines(registered, api_url())))
    return 0


# Shared parent parsers (argparse `parents=`): options several commands take, each in one place.
def _config_option(help_text: str | None, required: bool = False) -> argparse.ArgumentParser:
    """--config FILE; what it configures differs per command, so the help is the caller's."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config", required=required, metavar="FILE", help=help_text)
    return p


def _workers_option(help_text: str) -> argparse.ArgumentParser:
    """--workers N, by default one per CPU."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help=help_text)
    return p


def _run_dir() -> argparse.ArgumentParser:
    """The finished run a post-run tool reads."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("run", metavar="RUN_DIR", help="the --output folder of a finished `sieve run`")
    return p


def _lang_option() -> argparse.ArgumentParser:
    """--lang L of the model trainers."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--lang", required=True, metavar="L", help="language code, as language id writes it (en, vi)")
    return p


_TRAINING_DATA_CONFIG = "YAML overrides of the defaults (training_data section)"
_SOURCE_HELP = "the --output of `sieve run` (its kept documents) or of `sieve shards`; local, s3:// or gs://"
Commands = argparse._SubParsersAction  # what add_subparsers returns


def _add_run(sub: Commands) -> None:
    run = sub.add_parser(
        "run",
        parents=[
            _config_option("YAML overrides of the defaults (see `sieve config show`)"),
            _workers_option("parallel workers for the DirectRunner (default: the number of CPUs)"),
        ],
        help="run the curate flow on WARC files",
    )
    run.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="PATH",
        help="WARC file, directory, glob or warc.paths.gz listing; local, s3:// or gs://; repeat for more; "
        "{latest} stands for the newest CC-MAIN-* crawl folder (also in --output)",
    )
    run.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="where shards, report.md and manifest.json go; local, s3:// or gs://",
    )
    run.add_argument(
        "--runner", default="DirectRunner", help="Beam runner (DirectRunner, DataflowRunner, a dotted path, ...)"
    )
    run.add_argument("--force", action="store_true", help="redo every file, even if output already holds this run")
    run.add_argument("--limit-files", type=int, metavar="N", help="only the first N input files (by name)")
    run.add_argument(
        "--sample-fraction",
        type=float,
        metavar="F",
        help="a deterministic sample of about F of the input files (by a hash of their names)",
    )
    run.add_argument(
        "--base-url", metavar="URL", help=f"prefix of the paths in a warc.paths.gz listing (default {COMMONCRAWL_BASE})"
    )
    run.add_argument(
        "--batch-files",
        type=int,
        metavar="N",
        help="input files per Beam job, whose files are committed when it ends "
        "(default: about 1 GB of input per worker)",
    )
    run.set_defaults(fn=_run)


def _add_synth(sub: Commands) -> None:
    synth = sub.add_parser("synth", help="write the synthetic WARC corpus with ground truth")
    synth.add_argument("--output", required=True, metavar="DIR")
    synth.add_argument("--docs", type=int, default=1000)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--reference-docs",
        type=int,
        default=300,
        metavar="N",
        help="clean held-out articles per language (en, vi) in DIR/reference/<lang>.txt; 0 for none",
    )
    synth.set_defaults(fn=_synth)


def _add_lm(sub: Commands) -> None:
    lm = sub.add_parser("lm", help="language models for the perplexity stage")
    lm_sub = lm.add_subparsers(dest="lm_command", required=True)
    train = lm_sub.add_parser(
        "train",
        parents=[_lang_option()],
        help="train a SentencePiece + KenLM model (CCNet style) from clean text",
    )
    train.add_argument(
        "--input",
        required=True,
        metavar="TEXT_OR_RUN_DIR",
        help="UTF-8 text file (documents separated by blank lines, else one per line), a folder of "
        ".txt files, or a sieve output/run folder (its kept rows in --lang); local, s3:// or gs://",
    )
    train.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="local folder for <lang>.sp.model, <lang>.arpa.bin and lm.json; name it in quality.perplexity.models",
    )
    train.add_argument("--order", type=int, default=5, help="n-gram order, 2..6 (default 5, as CCNet)")
    train.add_argument(
        "--vocab-size",
        type=int,
        default=32000,
        metavar="N",
        help="SentencePiece vocabulary (default 32000; scaled down for small inputs)",
    )
    train.add_argument("--memory", default="1G", help="lmplz sort memory, e.g. 1G or 20%% (default 1G)")
    train.set_defaults(fn=_lm_train)


def _add_quality(sub: Commands) -> None:
    quality = sub.add_parser("quality", help="quality classifier models for the classifier stage")
    quality_sub = quality.add_subparsers(dest="quality_command", required=True)
    train = quality_sub.add_parser(
        "train",
        parents=[_lang_option(), _config_option("config whose extraction and language id read the sources")],
        help="train a fastText classifier (DCLM style): reference text against random crawl, one language",
    )
    sources = (
        "a UTF-8 text file (documents separated by blank lines, else one per line), a WARC file (extracted and "
        "language-identified as a run does), or a sieve output/run folder (its kept rows); local, s3:// or gs://"
    )
    train.add_argument(
        "--positive",
        action="append",
        required=True,
        metavar="SRC",
        help=f"reference (high-quality) text: {sources}; repeat for more",
    )
    train.add_argument(
        "--negative",
        action="append",
        required=True,
        metavar="SRC",
        help="random crawl text, same kinds of source; repeat for more",
    )
    train.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="local folder for <lang>.bin and classifier.json; name the model in quality.classifier.models",
    )
    train.add_argument(
        "--max-docs", type=int, metavar="N", help="at most N documents per class, the first in source order"
    )
    train.add_argument("--seed", type=int, default=0, help="sampling and training seed (default 0)")
    train.set_defaults(fn=_quality_train)


def _add_config(sub: Commands) -> None:
    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser(
        "show", parents=[_config_option(None)], help="print the effective config (defaults + your file)"
    )
    show.set_defaults(fn=_config_show)


def _add_deploy(sub: Commands) -> None:
    deploy = sub.add_parser(
        "deploy", help="register the scheduled deployment with the Prefect server at PREFECT_API_URL"
    )
    deploy.add_argument(
        "--prefect-file",
        default=str(PREFECT_FILE),
        metavar="FILE",
        help="deployments to register (default: the package's prefect.yaml, infra/prefect.yaml in the repository)",
    )
    deploy.set_defaults(fn=_deploy)


def _add_explain(sub: Commands) -> None:
    explain = sub.add_parser("explain", help="one document's signals, thresholds and decision at every stage")
    explain.add_argument("key", metavar="URL_OR_DOC_ID", help="the page's URL, its doc_id or its WARC-Record-ID")
    where = explain.add_mutually_exclusive_group(required=True)
    where.add_argument("--warc", metavar="FILE", help="run every stage now on this WARC file's record")
    where.add_argument("--run", metavar="DIR", help="read the row of a finished run (the --output of `sieve run`)")
    explain.add_argument(
        "--config", metavar="FILE", help="with --warc: the config to explain under (default: defaults)"
    )
    explain.set_defaults(fn=_explain)


def _add_rethreshold(sub: Commands) -> None:
    rethreshold = sub.add_parser(
        "rethreshold",
        parents=[
            _run_dir(),
            _config_option("the config with the new thresholds", required=True),
            _workers_option("parallel processes"),
        ],
        help="re-decide a finished run under new thresholds, from its stored "
        "signals and text, without extracting again",
    )
    rethreshold.add_argument("--output", required=True, metavar="DIR", help="where the re-decided run is published")
    rethreshold.set_defaults(fn=_rethreshold)


def _add_calibrate(sub: Commands) -> None:
    calibrate = sub.add_parser(
        "calibrate",
        parents=[_run_dir()],
        help="propose per-language thresholds from a run and clean reference text",
    )
    calibrate.add_argument("--lang", required=True, metavar="L")
    calibrate.add_argument(
        "--reference",
        required=True,
        metavar="TEXT",
        help="clean text in that language: a text file (documents separated by blank lines), a "
        "folder of .txt files or a sieve run folder",
    )
    calibrate.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="where calibrate-<lang>.yaml (a config snippet) and calibrate-<lang>.md go",
    )
    calibrate.add_argument(
        "--keep", type=float, default=0.99, help="share of the reference each proposed threshold keeps (default 0.99)"
    )
    calibrate.add_argument(
        "--tighten",
        action="store_true",
        help="also tighten thresholds the reference sits well inside (sound only with a broad reference)",
    )
    calibrate.set_defaults(fn=_calibrate)


def _add_dedup_eval(sub: Commands) -> None:
    dedup_eval = sub.add_parser(
        "dedup-eval",
        parents=[_run_dir()],
        help="precision and recall of near-duplicate removal on labelled pairs",
    )
    dedup_eval.add_argument(
        "--pairs",
        required=True,
        metavar="PAIRS",
        help="JSON lines {a: url, b: url, jaccard, kind?}, e.g. dedup_pairs.jsonl of `sieve synth`",
    )
    dedup_eval.add_argument(
        "--negative-below",
        type=float,
        default=0.6,
        metavar="J",
        help="pairs below this Jaccard must not be merged (default 0.6)",
    )
    dedup_eval.set_defaults(fn=_dedup_eval)


def _add_eval(sub: Commands) -> None:
    evaluation = sub.add_parser(
        "eval",
        parents=[_run_dir()],
        help="precision and recall of each stage against the synthetic corpus's truth (`sieve synth`)",
    )
    evaluation.add_argument(
        "--truth",
        required=True,
        metavar="TRUTH",
        help="the truth.json `sieve synth` wrote beside the corpus the run read; the scores go to RUN_DIR/eval.json "
        "and a section of RUN_DIR/report.html",
    )
    evaluation.set_defaults(fn=_eval)


def _add_shards(sub: Commands) -> None:
    shards = sub.add_parser(
        "shards",
        parents=[_config_option(_TRAINING_DATA_CONFIG)],
        help="a run's kept documents as size-targeted training shards per language and train/validation split",
    )
    shards.add_argument("--input", required=True, metavar="RUN_OUTPUT", help="the --output of `sieve run`")
    shards.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="where <lang>/<split>/shard-NNNNN.parquet and shards.json go; local, s3:// or gs://",
    )
    shards.add_argument("--target-bytes", type=int, metavar="N", help="text bytes per shard (default: config)")
    shards.add_argument(
        "--validation-fraction",
        type=float,
        metavar="F",
        help="share of each language held out for validation (default: config)",
    )
    shards.add_argument(
        "--tokenizer", metavar="PATH", help="count tokens with this tokenizer (default: whitespace words)"
    )
    shards.set_defaults(fn=_shards)


def _add_tokenizer(sub: Commands) -> None:
    tokenizer = sub.add_parser("tokenizer", help="the SentencePiece tokenizer of the training token files")
    tokenizer_sub = tokenizer.add_subparsers(dest="tokenizer_command", required=True)
    train = tokenizer_sub.add_parser(
        "train",
        parents=[_config_option(_TRAINING_DATA_CONFIG)],
        help="train on a seeded sample of documents (byte fallback: no <unk>)",
    )
    train.add_argument("--input", required=True, metavar="RUN_OUTPUT_OR_SHARDS", help=_SOURCE_HELP)
    train.add_argument(
        "--output", required=True, metavar="DIR", help="local folder for tokenizer.model and tokenizer.json"
    )
    train.add_argument("--vocab-size", type=int, metavar="N", help="pieces (default: config)")
    train.add_argument("--model-type", choices=["bpe", "unigram"], help="SentencePiece algorithm (default: config)")
    train.add_argument("--sample-docs", type=int, metavar="N", help="documents to train on (default: config)")
    train.set_defaults(fn=_tokenizer_train)


def _add_tokenize(sub: Commands) -> None:
    tokenize = sub.add_parser(
        "tokenize",
        parents=[_config_option(_TRAINING_DATA_CONFIG)],
        help="Megatron .bin/.idx token files, one pair per language and split",
    )
    tokenize.add_argument(
        "--input",
        required=True,
        metavar="RUN_OUTPUT_OR_SHARDS",
        help=_SOURCE_HELP + " (a run output is cut into DIR/shards first)",
    )
    tokenize.add_argument("--output", required=True, metavar="DIR", help="local folder for the token files")
    tokenize.add_argument(
        "--tokenizer", metavar="PATH", help="tokenizer folder or .model file (default: train one into DIR/tokenizer)"
    )
    tokenize.add_argument(
        "--decontaminate",
        nargs="+",
        metavar="EVAL_FILE",
        help="evaluation text files: documents sharing a word n-gram with them are dropped and "
        "listed in DIR/decontaminated.parquet",
    )
    tokenize.add_argument(
        "--vocab-size", type=int, metavar="N", help="pieces of a tokenizer trained here (default: config)"
    )
    tokenize.add_argument("--workers", type=int, metavar="N", help="tokenizing processes (default: config)")
    tokenize.set_defaults(fn=_tokenize)


def _add_train(sub: Commands) -> None:
    train = sub.add_parser(
        "train",
        parents=[_config_option("YAML overrides of the defaults (training section)")],
        help="pretrain a GPT on token files; several processes with torchrun "
        "(`torchrun --nproc_per_node=N -m sieve.flows.cli train ...`)",
    )
    train.add_argument("--data", required=True, metavar="DIR", help="the --output of `sieve tokenize`")
    train.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="metrics.jsonl and checkpoints/; a run resumes from its latest checkpoint here",
    )
    train.add_argument("--preset", metavar="NAME", help="model size: tiny, 125M or 1B (default: config)")
    train.add_argument("--steps", type=int, metavar="N", help="optimizer steps in all (default: config)")
    train.set_defaults(fn=_train)


# Each adds one command's parser and names its handler; this order is the order of `sieve --help`.
COMMANDS = (
    _add_run,
    _add_synth,
    _add_lm,
    _add_quality,
    _add_config,
    _add_deploy,
    _add_explain,
    _add_rethreshold,
    _add_calibrate,
    _add_dedup_eval,
    _add_eval,
    _add_shards,
    _add_tokenizer,
    _add_tokenize,
    _add_train,
)


def parser() -> argparse.ArgumentParser:
    """The `sieve` parser: one subcommand per entry of COMMANDS."""
    p = argparse.ArgumentParser(prog="sieve", description="WARC files -> clean, deduplicated Parquet pretraining data.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    phases.mark_process_start()
    args = parser().parse_args(argv)
    ended: list[int] = []  # the exit code, once the command has one
    if argv is None:  # the `sieve` program, not a caller in this process
        atexit.register(_leave, ended)
        if args.fn is _run:
            from sieve.transforms.supervise import hide_modules

            # Beam imports pandas only for its pandas type hints, which no sieve job uses: 0.2 s of every run's start
            # (to its first record, 2.87 -> 2.64 s on the 12-page sample). Not for a caller of main(), which may
            # need pandas after it.
            hide_modules("pandas")
    ended.append(_command(args, argv))
    return ended[0]


def _command(args: argparse.Namespace, argv: list[str] | None) -> int:
    """The command's exit code; a usage error, a stop and a location that cannot be read or written are one line."""
    try:
        with stopped_by_signals():
            return args.fn(args)
    except (UsageError, ConfigError) as e:
        print(f"sieve: error: {e}", file=sys.stderr)
        return 2
    except Stopped as e:
        command = shlex.join(["sieve", *(sys.argv[1:] if argv is None else argv)])
        resume = f"; the same command resumes from the finished record ranges: {command}" if args.fn is _run else ""
        print(f"sieve: stopped by {e}{resume}", file=sys.stderr)
        return 128 + e.signum
    except Exception as e:  # a location that cannot be read or written (full disk, store down), wherever it was met
        if (line := storage.error_line(e)) is None:
            raise
        print(f"sieve: error: {line}", file=sys.stderr)
        return 1


def _leave(ended: list[int]) -> None:
    """Registered before the command runs, so it runs after the atexit handlers the command registered (Prefect's
    log and event flushes, the range processes' close): a command that ended with an exit code then leaves at once.
    The interpreter's own teardown of a launcher that imported Beam, Prefect and pyarrow takes 0.6-1 s and writes
    nothing. An uncaught exception (no code) still gets it."""
    if not ended:
        return
    logging.shutdown()  # its own atexit handler was registered before this one, so it would not run
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(ended[0])


if __name__ == "__main__":
    sys.exit(main())
