"""Trainer benchmark: tokenizing and training speed on CPU, the MFU formula checked by hand, and raw vs curated data.

Prints tables and writes JSON to bench/results/trainer.json. Every step is the real `sieve` command in a subprocess.
The input is one synthetic crawl (`sieve synth --docs N`), run twice: with the default config (curated) and with the
quality stages off (raw: gopher_quality, gopher_repetition, c4, fineweb and perplexity off, language id on, i.e.
what extraction alone keeps). The crawl, both runs, their training shards (`sieve shards`, 1 MB of text a shard so
tokenizing has many files to share out) and the tokenizer (trained on the curated shards, used for everything) are
cached under bench/results/trainer-synth-N/.
  tokenize    `sieve tokenize` of the curated shards with 1 and 2 worker processes, --repeat times each: tokens/s
              of the tokenizing itself (tokens.json's seconds) and the whole command's wall time; medians.
  train       `sieve train --preset tiny`, --speed-steps steps of 16 x 64 tokens, DDP and FSDP, 1 process and 2
              under torchrun: median tokens/s of the logged intervals after the first (warm-up), and the logged MFU
              recomputed from the model shape in run.json.
  mfu         the 125M and 1B presets' parameters and training FLOPs per token computed here from their shapes,
              against the model's own num_params / num_flops_per_token and torch's FlopCounterMode (matmuls only:
              it leaves out the norms, 6 FLOPs per norm weight) on a forward + backward on the meta device.
  experiment  the tiny model trained for the same token budget (--steps x 16 x 64) on the raw and on the curated
              corpus, same tokenizer, --seeds seeds (model init and data order) each, the same seeds for both;
              validation loss on the clean held-out reference text that `sieve synth` writes
              (<synth>/reference/en.txt, vi.txt: articles not in the crawl), tokenized with the same tokenizer into
              <lang>_validation, eval_batches 16 (16,640 tokens per language); means over the seeds.

    python bench/trainer.py [--docs 5000] [--vocab-size 4000] [--steps 400] [--seeds 3] [--repeat 3] [--skip tokenize,train,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from sieve.trainer.indexed import IndexedTokens, IndexedTokenWriter, token_dtype
from sieve.trainer.model import GPT, PRESETS, loss_fn, model_config
from sieve.trainer.tokenizer import Tokenizer

RESULTS = Path(__file__).parent / "results"
SIEVE = str(Path(sys.executable).parent / "sieve")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "sieve.flows.cli"]
RAW_CONFIG = (
    "quality:\n  gopher_quality: false\n  gopher_repetition: false\n  c4: false\n  fineweb: false\n"
    "  perplexity:\n    enabled: false\n"
)
H100_BF16 = 989e12  # dense bf16 FLOP/s of an H100 SXM (an H200 has the same compute), NVIDIA's datasheets
LANGS = ("en", "vi")


def sh(cmd: list[str], cwd: Path | None = None) -> tuple[str, float]:
    """Run a command; its stdout and wall seconds (stderr shown when it fails)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout, seconds


def prepare(cache: Path, docs: int, vocab_size: int) -> dict[str, Path]:
    """The cached crawl, the two runs, their shards and the shared tokenizer (made on first use)."""
    cache.mkdir(parents=True, exist_ok=True)
    synth = cache / "synth"
    if not (synth / "corpus.warc.gz").exists():
        sh([SIEVE, "synth", "--output", str(synth), "--docs", str(docs), "--seed", "0"])
    (cache / "raw.yaml").write_text(RAW_CONFIG)
    paths = {"synth": synth}
    for name, config in (("curated", []), ("raw", ["--config", str(cache / "raw.yaml")])):
        run, shards = cache / f"run-{name}", cache / f"shards-{name}"
        if not (run / "manifest.json").exists():
            _, seconds = sh([SIEVE, "run", "--input", str(synth / "corpus.warc.gz"), "--output", str(run), *config])
            print(f"sieve run ({name}): {seconds:.1f} s", file=sys.stderr)
        if not (shards / "shards.json").exists():
            sh([SIEVE, "shards", "--input", str(run), "--output", str(shards), "--target-bytes", "1000000"])
        paths[name] = shards
    tokenizer = cache / f"tokenizer-{vocab_size}"
    if not (tokenizer / "tokenizer.model").exists():
        sh(
            [
                SIEVE,
                "tokenizer",
                "train",
                "--input",
                str(paths["curated"]),
                "--output",
                str(tokenizer),
                "--vocab-size",
                str(vocab_size),
            ]
        )
    paths["tokenizer"] = tokenizer
    return paths


def tokenize_cmd(shards: Path, out: Path, tokenizer: Path, workers: int | None = None) -> list[str]:
    """`sieve tokenize` of a run's shards with a given tokenizer (the command's default worker count unless given)."""
    cmd = [SIEVE, "tokenize", "--input", str(shards), "--output", str(out), "--tokenizer", str(tokenizer)]
    return cmd + (["--workers", str(workers)] if workers is not None else [])


def bench_tokenize(paths: dict[str, Path], work: Path, repeat: int) -> list[dict]:
    rows = []
    for workers in (1, 2):
        rates, walls = [], []
        for i in range(repeat):
            out = work / f"tok-w{workers}-{i}"
            _, wall = sh(tokenize_cmd(paths["curated"], out, paths["tokenizer"], workers))
            summary = json.loads((out / "tokens.json").read_text())
            rates.append(summary["tokens"] / summary["seconds"])
            walls.append(wall)
        rows.append(
            {
                "workers": workers,
                "tokens": summary["tokens"],
                "documents": summary["documents"],
                "input_files": len(list(paths["curated"].glob("*/*/*.parquet"))),
                "tokens_per_s": statistics.median(rates),
                "command_s": statistics.median(walls),
            }
        )
    return rows


def train_cmd(data: Path, out: Path, config: Path, steps: int, processes: int) -> list[str]:
    head = [SIEVE] if processes == 1 else TORCHRUN
    return [
        *head,
        "train",
        "--data",
        str(data),
        "--output",
        str(out),
        "--preset",
        "tiny",
        "--steps",
        str(steps),
        "--config",
        str(config),
    ]


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def bench_train(data: Path, work: Path, steps: int) -> list[dict]:
    rows = []
    for dp_shard in ("ddp", "fsdp"):
        config = work / f"speed-{dp_shard}.yaml"
        config.write_text(
            f"training:\n  log_interval: 10\n  eval_interval: 100000\n  checkpoint_interval: 100000\n"
            f"  parallelism:\n    dp_shard: {dp_shard}\n"
        )
        for processes in (1, 2):
            out = work / f"speed-{dp_shard}-{processes}"
            _, wall = sh(train_cmd(data, out, config, steps, processes))
            lines, run = metrics(out), json.loads((out / "run.json").read_text())
            flops = flops_by_hand(
                run["model"]["vocab_size"],
                run["model"]["dim"],
                run["model"]["n_layers"],
                run["model"]["ffn_hidden"],
                run["model"]["max_seq_len"],
            )["flops_per_token"]
            rate = statistics.median(m["tokens_per_s"] for m in lines[1:])
            last = lines[-1]
            rows.append(
                {
                    "dp_shard": dp_shard,
                    "processes": processes,
                    "tokens_per_s": rate,
                    "command_s": wall,
                    "mfu_logged": last["mfu"],
                    "mfu_by_hand": flops * last["tokens_per_s"] / (run["training"]["peak_flops"] * processes),
                }
            )
    return rows


def flops_by_hand(vocab: int, dim: int, layers: int, ffn: int, seq_len: int) -> dict[str, int]:
    """Parameters (tied embedding once; wq, wk, wv, wo; SwiGLU w1, w2, w3; two RMSNorms a block, one final) and
    training FLOPs per token: 6 per parameter (2 forward, 4 backward), plus attention's QK^T and AV, 2 * 2 * T * dim
    forward per layer, x3 with backward = 12 * layers * dim * T (PaLM appendix B; the causal mask is not subtracted)."""
    norms = 2 * layers * dim + dim
    params = vocab * dim + layers * (4 * dim * dim + 3 * dim * ffn) + norms
    return {"params": params, "norm_params": norms, "flops_per_token": 6 * params + 12 * layers * dim * seq_len}


def bench_mfu(vocab: int) -> list[dict]:
    rows = []
    for preset in ("125M", "1B"):
        shape = PRESETS[preset]
        hand = flops_by_hand(vocab, shape.dim, shape.n_layers, shape.ffn_hidden, shape.max_seq_len)
        with torch.device("meta"):
            model = GPT(model_config(preset, vocab))
            tokens = torch.randint(0, vocab, (1, shape.max_seq_len + 1))
            with FlopCounterMode(display=False) as counter:
                loss_fn(model(tokens[:, :-1]), tokens[:, 1:]).backward()
        flops = model.num_flops_per_token(shape.max_seq_len)
        rows.append(
            {
                "preset": preset,
                "vocab": vocab,
                "seq_len": shape.max_seq_len,
                "params_by_hand": hand["params"],
                "params_model": model.num_params(),
                "flops_per_token_by_hand": hand["flops_per_token"],
                "flops_per_token_model": flops,
                "flop_counter_per_token": counter.get_total_flops() / shape.max_seq_len,
                "counter_plus_norms": counter.get_total_flops() / shape.max_seq_len + 6 * hand["norm_params"],
                "h100_tokens_per_s_at_40pct_mfu": 0.4 * H100_BF16 / flops,
            }
        )
    return rows


def reference_data(tok: Path, synth: Path, tokenizer: Path, out: Path) -> Path:
    """A data folder: tok's <lang>_train files, and the synthetic reference text as <lang>_validation."""
    out.mkdir(parents=True, exist_ok=True)
    vocab = Tokenizer(str(tokenizer))
    for lang in LANGS:
        for ext in (".bin", ".idx"):
            link = out / f"{lang}_train{ext}"
            if not link.exists():
                link.symlink_to(tok / f"{lang}_train{ext}")
        articles = [a for a in (synth / "reference" / f"{lang}.txt").read_text().split("\n\n") if a.strip()]
        with IndexedTokenWriter(str(out / f"{lang}_validation"), token_dtype(vocab.vocab_size)) as writer:
            for ids in vocab.encode(articles):
                writer.add(ids + [vocab.eod_id])
    (out / "tokens.json").write_text((tok / "tokens.json").read_text())
    return out


def experiment(paths: dict[str, Path], work: Path, steps: int, seeds: int) -> list[dict]:
    rows = []
    for name in ("raw", "curated"):
        tok = work / f"tok-{name}"
        sh(tokenize_cmd(paths[name], tok, paths["tokenizer"]))
        data = reference_data(tok, paths["synth"], paths["tokenizer"], work / f"data-{name}")
        runs = []
        for seed in range(seeds):
            config = work / f"experiment-{seed}.yaml"
            config.write_text(
                f"training:\n  seed: {seed}\n  log_interval: 50\n  eval_interval: {steps}\n"
                f"  eval_batches: 16\n  checkpoint_interval: 100000\n  parallelism:\n    dp_shard: ddp\n"
            )
            out = work / f"train-{name}-{seed}"
            sh(train_cmd(data, out, config, steps, 1))
            runs.append(metrics(out)[-1])
        summary = json.loads((tok / "tokens.json").read_text())
        train_tokens = {lang: int(IndexedTokens(str(tok / f"{lang}_train")).lengths.sum()) for lang in LANGS}
        rows.append(
            {
                "corpus": name,
                "documents": summary["documents"],
                "train_tokens": train_tokens,
                "budget_tokens": steps * 16 * 64,
                "seeds": runs,
                **{
                    key: statistics.mean(r[key] for r in runs)
                    for key in ("loss", "val_loss", *(f"val_loss_{lang}" for lang in LANGS))
                },
            }
        )
    return rows


def table(header: list[str], rows: list[list]) -> None:
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=5000, help="synthetic crawl size")
    ap.add_argument("--vocab-size", type=int, default=4000, help="the shared tokenizer's pieces")
    ap.add_argument("--steps", type=int, default=400, help="experiment: optimizer steps of 16 x 64 tokens")
    ap.add_argument("--speed-steps", type=int, default=60, help="train speed: steps per run")
    ap.add_argument("--seeds", type=int, default=3, help="experiment: training seeds (init and data order) per corpus")
    ap.add_argument("--repeat", type=int, default=3, help="tokenize: runs per worker count")
    ap.add_argument("--skip", default="", help="comma-separated: tokenize, train, mfu, experiment")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    start, load = time.perf_counter(), os.getloadavg()[0]
    paths = prepare(RESULTS / f"trainer-synth-{args.docs}", args.docs, args.vocab_size)
    result: dict = {
        "docs": args.docs,
        "vocab_size": args.vocab_size,
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory(prefix="sieve-bench-trainer-") as tmp:
        work = Path(tmp)
        if "tokenize" not in skip:
            result["tokenize"] = rows = bench_tokenize(paths, work, args.repeat)
            print(
                f"\n`sieve tokenize` of the curated run of a {args.docs}-doc synthetic crawl "
                f"({rows[0]['documents']} documents, {rows[0]['tokens']:,} tokens, {rows[0]['input_files']} "
                f"shards), median of {args.repeat}:\n"
            )
            table(
                ["workers", "tokens/s (tokenizing)", "command wall s"],
                [[r["workers"], f"{r['tokens_per_s']:,.0f}", f"{r['command_s']:.2f}"] for r in rows],
            )
        if "train" not in skip or "experiment" not in skip:
            tok = work / "tok-speed"
            sh(
                [
                    SIEVE,
                    "tokenize",
                    "--input",
                    str(paths["curated"]),
                    "--output",
                    str(tok),
                    "--tokenizer",
                    str(paths["tokenizer"]),
                ]
            )
        if "train" not in skip:
            result["train"] = rows = bench_train(tok, work, args.speed_steps)
            print(
                f"`sieve train --preset tiny`, {args.speed_steps} steps of 16 x 64 tokens, CPU fp32, median of "
                f"the logged 10-step intervals after the first:\n"
            )
            table(
                ["parallelism", "processes", "tokens/s", "command wall s", "MFU logged", "MFU by hand"],
                [
                    [
                        r["dp_shard"],
                        r["processes"],
                        f"{r['tokens_per_s']:,.0f}",
                        f"{r['command_s']:.1f}",
                        f"{r['mfu_logged']:.3e}",
                        f"{r['mfu_by_hand']:.3e}",
                    ]
                    for r in rows
                ],
            )
        if "mfu" not in skip:
            result["mfu"] = rows = bench_mfu(32000)
            print("Parameters and training FLOPs per token (vocabulary 32000, seq_len 2048):\n")
            table(
                [
                    "preset",
                    "params by hand",
                    "params (model)",
                    "FLOPs/token by hand",
                    "FLOPs/token (model)",
                    "FlopCounterMode + 6 x norms",
                    "H100 tokens/s per GPU at 40% MFU",
                ],
                [
                    [
                        r["preset"],
                        f"{r['params_by_hand']:,}",
                        f"{r['params_model']:,}",
                        f"{r['flops_per_token_by_hand']:,}",
                        f"{r['flops_per_token_model']:,}",
                        f"{r['counter_plus_norms']:,.0f}",
                        f"{r['h100_tokens_per_s_at_40pct_mfu']:,.0f}",
                    ]
                    for r in rows
                ],
            )
        if "experiment" not in skip:
            result["experiment"] = rows = experiment(paths, work, args.steps, args.seeds)
            print(
                f"Raw vs curated: tiny preset, {args.steps} steps x 16 x 64 = {args.steps * 1024:,} tokens each, "
                f"blend en 0.8 / vi 0.2, same tokenizer ({args.vocab_size} pieces), mean of seeds 0..{args.seeds - 1} "
                f"(per-seed values in brackets); validation on the held-out clean reference text:\n"
            )
            table(
                [
                    "corpus",
                    "documents",
                    "train tokens en / vi",
                    "final train loss",
                    "val loss en",
                    "val loss vi",
                    "val loss (0.8/0.2)",
                ],
                [
                    [
                        r["corpus"],
                        r["documents"],
                        f"{r['train_tokens']['en']:,} / {r['train_tokens']['vi']:,}",
                        *(
                            f"{r[key]:.3f} ({', '.join(f'{s[key]:.3f}' for s in r['seeds'])})"
                            for key in ("loss", "val_loss_en", "val_loss_vi", "val_loss")
                        ),
                    ]
                    for r in rows
                ],
            )
    result.update(seconds=time.perf_counter() - start, load_average_1min={"start": load, "end": os.getloadavg()[0]})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "trainer.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"wrote {RESULTS / 'trainer.json'} ({result['seconds']:.0f} s; 1-minute load average {load:.2f} at the start, "
        f"{result['load_average_1min']['end']:.2f} at the end, on {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
