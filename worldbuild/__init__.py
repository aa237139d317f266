"""worldbuild: a frozen lite web from WARC snapshots, for training research agents offline."""

from worldbuild.records import IngestSettings, Page
from worldbuild.world import SearchHit, World, WorldNotFound

__all__ = ["IngestSettings", "Page", "SearchHit", "World", "WorldNotFound"]
__version__ = "0.1.0"
