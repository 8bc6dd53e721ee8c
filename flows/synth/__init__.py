"""Synthetic CommonCrawl-like corpus with ground truth, for testing the pipeline end to end."""

from sieve.flows.synth.corpus import write_reference_text, write_synthetic_corpus

__all__ = ["write_reference_text", "write_synthetic_corpus"]
