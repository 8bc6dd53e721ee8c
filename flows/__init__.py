"""Orchestration: the Prefect flow, the CLI, input planning, publishing and run reports; tools/ holds the post-run
tools, models/ the quality-model trainers, synth/ the synthetic corpus."""
