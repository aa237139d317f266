"""worldbuild: a frozen lite web from WARC snapshots, for training research agents offline.

The names below load on first use, so a plugin that imports one submodule (verl's reward or tool
loaders, the serve workers) does not pay for the index, the store and the writer."""

from importlib import import_module

_PUBLIC = {"IngestSettings": "worldbuild.records", "Page": "worldbuild.records", "SearchHit": "worldbuild.world",
           "World": "worldbuild.world", "WorldNotFound": "worldbuild.world"}

__all__ = sorted(_PUBLIC)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'worldbuild' has no attribute {name!r}")
