"""Prompt files, versioned by name: every output records the version it was made with."""
