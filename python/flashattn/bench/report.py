"""Writes a benchmark run as JSON, a markdown table with ratios, and a PNG plot."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

OURS = ("flashattn", "flashattn-cpu", "flashattn-sm80", "flashattn-sm90")


def _metric(row: dict) -> float | None:
    return row.get("gbps") if row["dir"] == "decode" else row.get("tflops")


def _row_key(row: dict) -> tuple:
    return (row["dir"], row["dtype"], row["d"], row["causal"], row["b"], row["s"])


def markdown_table(run: dict) -> str:
    rows = run["rows"]
    impls = list(dict.fromkeys(row["impl"] for row in rows))
    ours = [name for name in impls if name in OURS]
    anchors = [name for name in impls if name not in OURS]
    table = defaultdict(dict)
    for row in rows:
        table[_row_key(row)][row["impl"]] = _metric(row)
    header = ["dir", "dtype", "d", "causal", "b", "s"] + impls
    header += [f"{a}/{b}" for a in ours for b in anchors]
    unit = "TFLOP/s (decode: GB/s)" if run["device_kind"] == "cuda" else "GFLOP/s (decode: GB/s)"
    lines = [f"Device: {run['device']} · {run['date']} · git {run['git']} · torch {run['torch']}"
             f" · cudnn {run['cudnn']} · values in {unit}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, values in table.items():
        cells = [str(part) for part in key]
        cells += ["—" if values.get(name) is None else f"{values[name]:.1f}" for name in impls]
        for a in ours:
            for b in anchors:
                ok = values.get(a) is not None and values.get(b)
                cells.append(f"{values[a] / values[b]:.2f}×" if ok else "—")
        lines.append("| " + " | ".join(cells) + " |")
    missing = run.get("unavailable", {})
    if missing:
        lines += ["", "Not measured: " + "; ".join(f"{k}: {v}" for k, v in missing.items())]
    return "\n".join(lines) + "\n"


def plot(run: dict, path: Path) -> bool:
    """One panel per (dir, dtype, d, causal): throughput against sequence length."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = defaultdict(lambda: defaultdict(list))
    for row in run["rows"]:
        if _metric(row) is not None:
            panel = (row["dir"], row["dtype"], row["d"], row["causal"])
            panels[panel][row["impl"]].append((row["s"], _metric(row)))
    if not panels:
        return False
    columns = min(3, len(panels))
    rows = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    unit = "TFLOP/s" if run["device_kind"] == "cuda" else "GFLOP/s"
    impls = sorted({impl for series in panels.values() for impl in series})
    colors = {impl: f"C{index}" for index, impl in enumerate(impls)}  # same colour everywhere
    for axis, ((direction, dtype, d, causal), series) in zip(axes.flat, sorted(panels.items())):
        for impl, points in sorted(series.items()):
            points.sort()
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=impl,
                      color=colors[impl])
        axis.set_xscale("log", base=2)
        axis.set_title(f"{direction} {dtype} d{d}{' causal' if causal else ''}")
        axis.set_xlabel("sequence length")
        axis.set_ylabel("GB/s" if direction == "decode" else unit)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    figure.suptitle(f"{run['device']} · {run['date'][:10]} · git {run['git']}", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write(run: dict, folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / f"{stem}.json", folder / f"{stem}.md"]
    written[0].write_text(json.dumps(run, indent=1) + "\n")
    written[1].write_text(markdown_table(run))
    if plot(run, folder / f"{stem}.png"):
        written.append(folder / f"{stem}.png")
    return written
