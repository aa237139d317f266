"""Print the lock: every distribution installed in this interpreter's environment, pinned exactly,
except worldbuild itself and torch with its GPU runtimes (pinned apart by TORCH_VERSION, since the
right build differs between CPU machines and GPU nodes)."""

from __future__ import annotations

import re
from importlib import metadata

APART = re.compile(r"^(worldbuild|torch|triton|nvidia-.*|pip|setuptools|wheel)$")


def main() -> None:
    pins = {}
    for dist in metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if not APART.match(name):
            pins[name] = dist.version
    print("# The versions the suite passed with; made by scripts/lock.sh, installed by scripts/setup.sh.")
    for name in sorted(pins):
        print(f"{name}=={pins[name]}")


if __name__ == "__main__":
    main()
