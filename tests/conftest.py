"""Fixtures shared by several test files."""

from __future__ import annotations

import os

os.environ["RLCV_STRICT_METRICS"] = "1"  # before rlcv.logger is imported: undeclared metrics fail

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test: tiny matmuls, where a second intra-op thread only adds contention — on a 2-core
    machine with another process on the other core, a gradcheck took 77 s with two threads and 9 s
    with one. It also makes a test's speed independent of which earlier test set the thread count
    (`rlcv train` sets it from --num-threads and keeps it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
