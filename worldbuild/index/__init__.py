"""Indexes over a world's pages: BM25 and query-biased snippets."""
