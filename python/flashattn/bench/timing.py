"""Median run times: CUDA events on the GPU, perf_counter on the CPU."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def median_ms(function: Callable[[], object], device: str, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        function()
    if device == "cuda":
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            function()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
