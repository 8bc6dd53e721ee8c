"""Beam PTransforms that wire the pure-Python filters into pipelines: reading, stages, sinks. No decisions here."""
