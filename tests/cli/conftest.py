"""Shared set-up of the command's tests: each test in its own folder (the
command writes runs/ under the current directory), one torch thread, no
real data reachable."""
import pytest
import torch


@pytest.fixture(autouse=True)
def in_tmp_path(monkeypatch, tmp_path):
    n = torch.get_num_threads()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SRNN_PYG_DATA", raising=False)
    yield
    torch.set_num_threads(n)
