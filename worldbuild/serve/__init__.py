"""The world as an HTTP service for agents: native, Search-R1, Serper and Jina-reader shapes."""

from worldbuild.serve.app import create_app

__all__ = ["create_app"]
