"""Median run times: CUDA events on the GPU, perf_counter on the CPU.

On the GPU each timed call is enqueued behind a short spin kernel: the host issues the call (Python,
dispatch, argument checks, launches) while the GPU is still busy, so the events bracket the
device's work alone and not the host's time to issue it, which differs between implementations
and would otherwise dominate short calls. That host time is measured too and reported apart.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

# About 1 ms of spinning on current GPUs: longer than any implementation here takes to issue a
# call (the backward through autograd included).
SPACER_CYCLES = 2_000_000

TIMING_METHOD = ("median of CUDA-event times per call, each call issued while a ~1 ms spin kernel "
                 "runs (device time, the host's issue time excluded); host_us: median host time "
                 "to issue one call")


@dataclass
class Timing:
    ms: float  # median time per call: device time on the GPU, wall time on the CPU
    host_us: float  # median host time to issue one call (on the CPU: the whole call)


def time_calls(function: Callable[[], object], device: str, warmup: int,
               repeats: int) -> Timing:
    for _ in range(warmup):
        function()
    times, host = [], []
    if device == "cuda":
        torch.cuda.synchronize()
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda._sleep(SPACER_CYCLES)
            start.record()
            issued = time.perf_counter()
            function()
            host.append((time.perf_counter() - issued) * 1e6)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return Timing(statistics.median(times), statistics.median(host))
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return Timing(statistics.median(times), statistics.median(times) * 1e3)
