"""Post-run tools: explain a document's decisions, re-decide or calibrate thresholds, score dedup and the stages."""
