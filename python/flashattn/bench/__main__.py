"""python -m flashattn.bench: flashattn against the anchors, same inputs, same process.

Examples:
  python -m flashattn.bench                         # standard grid on the GPU (CPU: small grid)
  python -m flashattn.bench --dirs fwd --head-dims 128 --seqlens 1024,4096
  python -m flashattn.bench --decode                # decode rows (one query token)
  python -m flashattn.bench --replot results.json   # table and plot from a saved run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from . import report
from .grid import decode_cases, prefill_cases
from .impls import available_impls
from .timing import TIMING_METHOD, time_calls

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parse_args(argv):
    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(prog="python -m flashattn.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda" if gpu else "cpu")
    parser.add_argument("--dirs", default="fwd,bwd", help="fwd,bwd (comma-separated)")
    parser.add_argument("--dtypes", default="bf16", help="bf16,fp16 (fp32 on CPU)")
    parser.add_argument("--head-dims", type=_ints, default=None,
                        help="default 64,128,256 (CPU: 64,128)")
    parser.add_argument("--seqlens", type=_ints, default=None,
                        help="default 512..16384 (CPU: 256..2048)")
    parser.add_argument("--causal", choices=["both", "yes", "no"], default="both")
    parser.add_argument("--tokens", type=int, default=None,
                        help="batch x seqlen per case (default 16384; CPU 2048)")
    parser.add_argument("--model-width", type=int, default=2048, help="heads x head_dim")
    parser.add_argument("--decode", action="store_true", help="also run the decode rows")
    parser.add_argument("--impls", default=None, help="subset of implementations to run")
    parser.add_argument("--warmup", type=int, default=None, help="default 10 (CPU 1)")
    parser.add_argument("--repeats", type=int, default=None, help="default 50 (CPU 5)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--name", default=None, help="file stem (default: device and date)")
    parser.add_argument("--replot", type=Path, default=None,
                        help="rewrite table and plot of a saved JSON run")
    args = parser.parse_args(argv)
    on_gpu = args.device == "cuda"
    args.head_dims = args.head_dims or ([64, 128, 256] if on_gpu else [64, 128])
    args.seqlens = args.seqlens or ([512, 1024, 2048, 4096, 8192, 16384] if on_gpu
                                    else [256, 512, 1024, 2048])
    args.tokens = args.tokens or (16384 if on_gpu else 2048)
    args.warmup = args.warmup if args.warmup is not None else (10 if on_gpu else 1)
    args.repeats = args.repeats or (50 if on_gpu else 5)
    return args


def _git_commit() -> str:
    # The GPU machine's copy of the tree may carry a stale .git: the caller can name the commit.
    if os.environ.get("FLASHATTN_GIT_COMMIT"):
        return os.environ["FLASHATTN_GIT_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    import platform
    return f"CPU {platform.processor() or platform.machine()} × {torch.get_num_threads()} threads"


def measure(impl, case, device, warmup, repeats) -> dict:
    dtype = DTYPES[case.dtype]
    generator = torch.Generator(device=device).manual_seed(0)

    def tensor(seqlen, heads):
        return torch.randn(case.batch, seqlen, heads, case.head_dim, device=device, dtype=dtype,
                           generator=generator, requires_grad=case.direction == "bwd")

    q, k, v = (tensor(case.seqlen_q, case.heads_q), tensor(case.seqlen_k, case.heads_kv),
               tensor(case.seqlen_k, case.heads_kv))
    if case.direction == "bwd":
        out = impl(q, k, v, case.causal)
        dout = torch.randn_like(out)
        timing = time_calls(lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True),
                            device, warmup, repeats)
    else:
        with torch.no_grad():
            timing = time_calls(lambda: impl(q, k, v, case.causal), device, warmup, repeats)
    ms = timing.ms
    row = case.as_row() | {"ms": ms, "host_us": timing.host_us}
    if case.direction == "decode":
        row["gbps"] = case.kv_bytes(q.element_size()) / (ms * 1e-3) / 1e9
    else:
        row["tflops" if device == "cuda" else "gflops"] = case.flops() / (ms * 1e-3) / (
            1e12 if device == "cuda" else 1e9)
        row["tflops"] = row.get("tflops", row.get("gflops"))  # one metric key for the table
    return row


def main(argv=None) -> int:
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.replot:
        run = json.loads(args.replot.read_text())
        for path in report.write(run, args.replot.parent, args.replot.stem):
            print(path)
        return 0
    impls = available_impls(args.device)
    if args.impls:
        chosen = set(args.impls.split(","))
        impls = {name: impl for name, impl in impls.items() if name in chosen}
    runnable = {name: impl for name, impl in impls.items() if callable(impl)}
    unavailable = {name: impl for name, impl in impls.items() if not callable(impl)}
    causals = {"both": [False, True], "yes": [True], "no": [False]}[args.causal]
    cases = list(prefill_cases(args.dirs.split(","), args.dtypes.split(","), args.head_dims,
                               args.seqlens, causals, args.tokens, args.model_width))
    if args.decode:
        cases += list(decode_cases(args.dtypes.split(",")))
    run = {"device": _device_name(args.device), "device_kind": args.device,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "git": _git_commit(), "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version() if args.device == "cuda" else None,
           "timing": TIMING_METHOD if args.device == "cuda" else "median wall time per call",
           "unavailable": unavailable, "rows": []}
    pairs = [(case, (name, impl)) for case in cases for name, impl in runnable.items()
             if case.direction != "bwd" or not getattr(impl, "forward_only", False)]
    total = len(pairs)
    for index, (case, (name, impl)) in enumerate(pairs, start=1):
        print(f"\r[{index}/{total}] {name} {case.direction} d{case.head_dim} s{case.seqlen_k}"
              f"{' causal' if case.causal else ''}".ljust(60), end="", file=sys.stderr,
              flush=True)
        try:
            row = measure(impl, case, args.device, args.warmup, args.repeats)
        except (RuntimeError, NotImplementedError, ValueError) as error:
            row = case.as_row() | {"ms": None, "error": str(error).splitlines()[0][:200]}
        run["rows"].append(row | {"impl": name})
    print(file=sys.stderr)
    stem = args.name or f"{args.device}-{run['date'][:10]}"
    for path in report.write(run, args.out, stem):
        print(path)
    print(report.markdown_table(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
