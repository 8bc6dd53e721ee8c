"""The `sieve` command line: run or deploy the curate flow, generate the synthetic corpus, show the effective config."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sieve.flows.deploy import PREFECT_FILE
from sieve.flows.plan import COMMONCRAWL_BASE, UsageError, check_output, plan_inputs, resolve_latest
from sieve.flows.runners import check_runner
from sieve.schemas.config import ConfigError, load_config


def _run(args: argparse.Namespace) -> int:
    from sieve.flows.publish import config_identity
    from sieve.flows.server import PrefectServer

    # Started first, so its seconds of start-up overlap the checks and imports; stopped when the command ends.
    with PrefectServer() as server:
        cfg = load_config(args.config)
        config_identity(cfg)  # a blocklist file the config names must be readable
        inputs, output = resolve_latest(args.input, args.output)
        plan_inputs(inputs, args.base_url, args.limit_files, args.sample_fraction)
        check_output(output)
        _check_numbers(args)
        check_runner(args.runner, cfg.beam.options, output)
        from sieve.flows.curate import curate
        from sieve.flows.report import REPORT, summary_lines

        server.wait_ready()
        manifest = curate(inputs=inputs, output=output, config=args.config, runner=args.runner,
                          workers=args.workers, force=args.force, limit_files=args.limit_files,
                          sample_fraction=args.sample_fraction, base_url=args.base_url, batch_files=args.batch_files)
    out = output.rstrip("/")
    print("\n".join(summary_lines(manifest)))
    print(f"\nshards:   {out}/{manifest['run_dir']}/kept/ and dropped/ (the manifest lists them)\n"
          f"manifest: {out}/manifest.json\nreport:   {out}/{REPORT}")
    return 0


def _check_numbers(args: argparse.Namespace) -> None:
    for flag, value, low in (("--workers", args.workers, 1), ("--limit-files", args.limit_files, 1),
                             ("--batch-files", args.batch_files, 1)):
        if value is not None and value < low:
            raise UsageError(f"{flag} must be at least {low}, got {value}")
    if args.sample_fraction is not None and not 0 < args.sample_fraction <= 1:
        raise UsageError(f"--sample-fraction must be in (0, 1], got {args.sample_fraction}")


def _synth(args: argparse.Namespace) -> int:
    if args.docs < 1:
        raise UsageError(f"--docs must be at least 1, got {args.docs}")
    from sieve.flows.synth import write_synthetic_corpus

    start = time.perf_counter()
    try:
        summary = write_synthetic_corpus(Path(args.output), docs=args.docs, seed=args.seed)
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror} (choose a writable location)") from None
    print(f"wrote {args.docs} documents to {Path(args.output) / 'corpus.warc.gz'} and truth.json "
          f"in {time.perf_counter() - start:.1f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.items())))
    return 0


def _config_show(args: argparse.Namespace) -> int:
    from sieve.flows.publish import config_identity

    cfg = load_config(args.config)
    print(f"# effective config (hash {config_identity(cfg)})\n{cfg.to_yaml()}", end="")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from sieve.flows.deploy import api_url, deploy, summary_lines

    registered = deploy(Path(args.prefect_file))
    print("\n".join(summary_lines(registered, api_url())))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sieve", description="WARC files -> clean, deduplicated Parquet pretraining data.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the curate flow on WARC files")
    run.add_argument("--input", action="append", required=True, metavar="PATH",
                     help="WARC file, directory, glob or warc.paths.gz listing; local, s3:// or gs://; repeat for more; "
                          "{latest} stands for the newest CC-MAIN-* crawl folder (also in --output)")
    run.add_argument("--output", required=True, metavar="DIR",
                     help="where shards, report.md and manifest.json go; local, s3:// or gs://")
    run.add_argument("--config", metavar="FILE", help="YAML overrides of the defaults (see `sieve config show`)")
    run.add_argument("--runner", default="DirectRunner", help="Beam runner (DirectRunner, DataflowRunner, a dotted path, ...)")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                     help="parallel workers for the DirectRunner (default: the number of CPUs)")
    run.add_argument("--force", action="store_true", help="redo every file, even if output already holds this run")
    run.add_argument("--limit-files", type=int, metavar="N", help="only the first N input files (by name)")
    run.add_argument("--sample-fraction", type=float, metavar="F",
                     help="a deterministic sample of about F of the input files (by a hash of their names)")
    run.add_argument("--base-url", metavar="URL",
                     help=f"prefix of the paths in a warc.paths.gz listing (default {COMMONCRAWL_BASE})")
    run.add_argument("--batch-files", type=int, metavar="N",
                     help="input files per Beam job, whose files are committed when it ends "
                          "(default: about 1 GB of input per worker)")
    run.set_defaults(fn=_run)

    synth = sub.add_parser("synth", help="write the synthetic WARC corpus with ground truth")
    synth.add_argument("--output", required=True, metavar="DIR")
    synth.add_argument("--docs", type=int, default=1000)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(fn=_synth)

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the effective config (defaults + your file)")
    show.add_argument("--config", metavar="FILE")
    show.set_defaults(fn=_config_show)

    deploy = sub.add_parser("deploy", help="register the scheduled deployment with the Prefect server at PREFECT_API_URL")
    deploy.add_argument("--prefect-file", default=str(PREFECT_FILE), metavar="FILE",
                        help="deployments to register (default: the repository's infra/prefect.yaml)")
    deploy.set_defaults(fn=_deploy)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except (UsageError, ConfigError) as e:
        print(f"sieve: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
