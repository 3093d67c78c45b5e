"""Fixtures shared by several test files."""

from __future__ import annotations

import os

os.environ["RLCV_STRICT_METRICS"] = "1"  # before rlcv.logger is imported: undeclared metrics fail

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def one_torch_thread():
    """Tiny matmuls: a second intra-op thread only adds contention on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
