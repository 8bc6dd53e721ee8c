"""The data contract: Arrow table schemas, the document model and the validated config."""
