"""The benchmark harness on a tiny CPU grid: it runs, records its timing method and per-call host
time, and writes the JSON and table the results directory keeps (and the plot, with matplotlib)."""

import importlib.util
import json

from flashattn.bench.__main__ import main


def test_benchmark_writes_rows_with_device_and_host_times(tmp_path):
    assert main(["--device", "cpu", "--dirs", "fwd,bwd", "--head-dims", "32", "--seqlens", "64",
                 "--causal", "both", "--tokens", "128", "--warmup", "0", "--repeats", "1",
                 "--out", str(tmp_path), "--name", "smoke"]) == 0
    run = json.loads((tmp_path / "smoke.json").read_text())
    assert run["timing"] and run["rows"]
    measured = [row for row in run["rows"] if row.get("ms") is not None]
    assert {row["dir"] for row in measured} == {"fwd", "bwd"}
    assert all(row["ms"] > 0 and row["host_us"] > 0 and row["tflops"] > 0 for row in measured)
    assert (tmp_path / "smoke.md").exists()
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "smoke.png").exists()
