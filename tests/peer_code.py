"""Load the peers' own client code from ../shared/peers, unchanged but for the address.

Some of their modules import heavy packages (torch, their verl fork) at the top; for those only
the functions a client path runs are compiled, straight from the file's source (filename and line
numbers kept, so a traceback points into the peer's file)."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import types

from tests.conftest import REPO

PEERS = os.path.normpath(os.path.join(REPO, "..", "shared", "peers"))


def path(relative: str) -> str:
    return os.path.join(PEERS, relative)


def import_file(relative: str, name: str, replace: dict[str, str] | None = None) -> types.ModuleType:
    """The whole module, as its file has it; `replace` swaps hard-coded addresses (each must
    occur in the source, so a changed peer file fails loudly instead of testing nothing)."""
    source = open(path(relative)).read()
    for old, new in (replace or {}).items():
        assert old in source, f"{relative} no longer holds {old!r}"
        source = source.replace(old, new)
    module = types.ModuleType(name)
    module.__file__ = path(relative)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    exec(compile(source, path(relative), "exec", dont_inherit=True), module.__dict__)
    return module


def import_plain(relative: str, name: str) -> types.ModuleType:
    """A module with light imports, loaded by importlib from its file."""
    spec = importlib.util.spec_from_file_location(name, path(relative))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def class_with(relative: str, class_name: str, methods: list[str], preamble: str, extra: list[str] = ()) -> dict:
    """A namespace holding `class_name` with only `methods` (their code unchanged) and the
    top-level definitions named in `extra`, compiled from the file after `preamble` (the
    light imports those methods use)."""
    tree = ast.parse(open(path(relative)).read(), path(relative))
    body = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            kept = [item for item in node.body if isinstance(item, ast.FunctionDef) and item.name in methods]
            assert {item.name for item in kept} == set(methods), f"{class_name} lacks some of {methods}"
            node.body, node.bases, node.keywords = kept, [], []
            body.append(node)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in extra:
            body.append(node)
    namespace: dict = {"__name__": f"peer_{class_name}"}
    exec(preamble, namespace)
    exec(compile(ast.Module(body=body, type_ignores=[]), path(relative), "exec", dont_inherit=True), namespace)
    return namespace
