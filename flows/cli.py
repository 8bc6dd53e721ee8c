"""The `sieve` command line: run the curate flow, generate the synthetic corpus, show the effective config."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from sieve.flows.plan import UsageError, check_output, resolve_inputs
from sieve.schemas.config import ConfigError, load_config


def _run(args: argparse.Namespace) -> int:
    # Validate everything the user typed before paying for a Prefect server start.
    load_config(args.config)
    resolve_inputs(args.input)
    check_output(args.output)
    if args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    _check_runner(args.runner)

    from sieve.flows.prefect_env import configure_prefect

    configure_prefect()
    from sieve.flows.curate import curate
    from sieve.flows.report import REPORT, summary_lines

    manifest = curate(inputs=args.input, output=args.output, config=args.config, runner=args.runner,
                      workers=args.workers, force=args.force)
    out = Path(args.output)
    print("\n".join(summary_lines(manifest)))
    print(f"\nkept:     {out / 'kept'}/*.parquet\ndropped:  {out / 'dropped'}/*.parquet\n"
          f"manifest: {out / 'manifest.json'}\nreport:   {out / REPORT}")
    return 0


def _check_runner(name: str) -> None:
    """Fail fast on a runner name Beam does not know, before a Prefect server starts."""
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # importing Beam warns about optional GCP clients
    try:
        from apache_beam.runners.runner import create_runner

        create_runner(name)
    except (ValueError, ImportError) as e:
        raise UsageError(f"--runner {name}: {str(e).split('. Valid')[0]} (DirectRunner, DataflowRunner, "
                         "PortableRunner, or a dotted path to a PipelineRunner class)") from None
    finally:
        root.level = level


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
    cfg = load_config(args.config)
    print(f"# effective config (hash {cfg.hash})\n{cfg.to_yaml()}", end="")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sieve", description="WARC files -> clean, deduplicated Parquet pretraining data.")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the curate flow on WARC files")
    run.add_argument("--input", action="append", required=True, metavar="PATH",
                     help="WARC file, directory or glob; repeat for more")
    run.add_argument("--output", required=True, metavar="DIR", help="where kept/, dropped/, manifest.json go")
    run.add_argument("--config", metavar="FILE", help="YAML overrides of the defaults (see `sieve config show`)")
    run.add_argument("--runner", default="DirectRunner", help="Beam runner (DirectRunner, DataflowRunner, a dotted path, ...)")
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                     help="parallel workers for the DirectRunner (default: the number of CPUs)")
    run.add_argument("--force", action="store_true", help="rerun even if output already holds this run")
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
