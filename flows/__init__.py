"""Orchestration: the Prefect flow, the CLI, input planning, publishing and run reports."""
