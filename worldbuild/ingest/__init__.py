"""Ingest: WARC/ARC archives → shards of page records (map) → the world (merge).

Entry point: `worldbuild.ingest.pipeline.ingest`.
"""
