"""The GPT pretraining stage that consumes the Parquet shards: tokenizer, Megatron-format token files, model, training loop."""
