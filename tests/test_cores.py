"""How many cores the defaults use: the process's own share (its CPU affinity), not the machine's."""

import os
import subprocess
import sys

import pytest

from worldbuild.serve import run
from worldbuild.serve.run import DEFAULT_SEARCH_PROCESSES_CAP, ServeConfig


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_a_process_allowed_one_core_defaults_to_one_worker_and_no_search_processes():
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from worldbuild.executor import LocalExecutor, usable_cores; "
            "from worldbuild.serve.run import ServeConfig; "
            "print(os.cpu_count(), usable_cores(), LocalExecutor().workers, ServeConfig('w').processes_per_worker)")
    machine, usable, workers, processes = map(int, subprocess.check_output([sys.executable, "-c", code]).split())
    assert (usable, workers, processes) == (1, 1, 0), f"the machine has {machine} cores"


@pytest.mark.parametrize("cores, workers, expected", [
    (2, 1, 2), (3, 2, 0), (8, 1, 8), (64, 1, DEFAULT_SEARCH_PROCESSES_CAP), (64, 4, DEFAULT_SEARCH_PROCESSES_CAP),
    (64, 16, 4), (64, 64, 0),
])
def test_default_search_processes_share_the_cores_among_workers_up_to_a_cap(monkeypatch, cores, workers, expected):
    monkeypatch.setattr(run, "usable_cores", lambda: cores)
    assert ServeConfig("w", workers=workers).processes_per_worker == expected
    assert ServeConfig("w", workers=workers, search_processes=20).processes_per_worker == 20  # asked for: as asked
