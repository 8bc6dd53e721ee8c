"""Model trainers for the quality stages: the KenLM perplexity model and the fastText quality classifier."""
