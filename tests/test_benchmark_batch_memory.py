"""benchmarks/batch_memory.py: each one-hop batch's own peak, measured in a fresh process per size."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

batch_memory = pytest.importorskip("batch_memory")


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc/self/clear_refs")
def test_each_batch_is_measured_alone_and_reported(tmp_path, capsys):
    row = batch_memory.measure(60, T=4, F=2, hidden=8, batch_size=8, batches=3)
    assert row["measured"] == 3 and row["batches"] == 8 and row["seeds"] == 8
    assert 0 <= row["median"] <= row["max"] and row["first"] <= row["max"] and row["before"] > 0
    args = batch_memory.parse_args(["--sizes", "40", "60", "--T", "4", "--batch-size", "8"])
    text = batch_memory.report(args, [dict(row, N=40), row, dict(N=80, error="worker exit code 1: boom")])
    assert "| 60 | " in text and "worker exit code 1: boom" in text and "From N=40 to N=60" in text
    # a tiny batch can fit in memory the process already had: a peak of 0 MiB has no ratio (it divided by 0)
    zero = dict(row, N=40, median=0.0, max=0.0)
    assert "no ratio: the smaller peak is 0 MiB" in batch_memory.report(args, [zero, dict(row, median=5.0, max=6.0)])
    assert "(2.00x)" in batch_memory.report(args, [dict(zero, median=2.0, max=3.0), dict(row, median=4.0, max=6.0)])


@pytest.mark.parametrize("argv", [["--batches", "0"], ["--sizes", "1"], ["--batch-size", "-1"]])
def test_settings_that_cannot_run_are_refused(argv):
    with pytest.raises(SystemExit):
        batch_memory.parse_args(argv)
