"""python -m flashattn.bench.ring: strong scaling of ring attention.

One global sequence of --seqlen tokens is split over W ranks (zigzag layout when causal, else
contiguous) for each W in --worlds; every rank times forward + backward (median of --repeats
after a warm-up, ranks synchronised by barriers) and rank 0 records the slowest rank. Efficiency
is time(1) / (W · time(W)): 1.0 means W ranks finish W times faster. GPUs use NCCL (one per
rank), CPUs Gloo (one thread per rank).

  python -m flashattn.bench.ring --device cuda --worlds 1,2,4,8 --seqlen 131072
  python -m flashattn.bench.ring --device cpu --worlds 1,2 --seqlen 2048 --heads 4
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m flashattn.bench.ring", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"],
                        default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--worlds", type=_ints, default=None,
                        help="rank counts (default 1, 2, 4, ... up to the GPUs; CPU: 1,2)")
    parser.add_argument("--seqlen", type=int, default=None,
                        help="global tokens (default 65536 on GPUs, 2048 on CPUs)")
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--name", default=None, help="file stem (default: device and date)")
    args = parser.parse_args(argv)
    gpu = args.device == "cuda"
    if args.worlds is None:
        count = torch.cuda.device_count() if gpu else 2
        args.worlds = [w for w in (1, 2, 4, 8) if w <= count]
    args.seqlen = args.seqlen or (65536 if gpu else 2048)
    return args


def _worker(rank, world, init_file, args, results):
    from flashattn.distributed import ring_attention, shard

    device = f"cuda:{rank}" if args.device == "cuda" else "cpu"
    if args.device == "cuda":
        torch.cuda.set_device(rank)
    else:
        torch.set_num_threads(1)
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo",
                            init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        dtype = torch.bfloat16
        layout = "zigzag" if args.causal else "contiguous"
        generator = torch.Generator().manual_seed(0)
        full = torch.randn(1, args.seqlen, args.heads, args.head_dim, generator=generator)
        q, k, v = (shard(full, rank, world, layout).to(device, dtype).requires_grad_()
                   for _ in range(3))
        dout = torch.ones_like(q)

        def step():
            out = ring_attention(q, k, v, causal=args.causal, layout=layout)
            torch.autograd.grad(out, (q, k, v), dout)

        times = []
        for repeat in range(args.repeats + 1):  # the first is the warm-up
            dist.barrier()
            if args.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if args.device == "cuda":
                torch.cuda.synchronize()
            dist.barrier()
            if repeat > 0:
                times.append(time.perf_counter() - start)
        if rank == 0:
            results.put(statistics.median(times))
    finally:
        dist.destroy_process_group()


def main(argv=None) -> int:
    args = parse_args(argv)
    context = mp.get_context("spawn")
    rows = []
    for world in args.worlds:
        results = context.SimpleQueue()
        with tempfile.TemporaryDirectory() as directory:
            mp.start_processes(_worker, args=(world, os.path.join(directory, "init"), args,
                                              results), nprocs=world, start_method="spawn")
        seconds = results.get()
        rows.append({"world": world, "seconds": seconds,
                     "tokens_per_s_per_rank": args.seqlen / seconds / world})
        print(f"world {world}: {seconds * 1e3:.1f} ms forward + backward", flush=True)
    for row in rows:
        row["efficiency"] = rows[0]["seconds"] / (row["world"] * row["seconds"]) * rows[0]["world"]
    run = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "device": (torch.cuda.get_device_name() if args.device == "cuda"
                      else "CPU, one thread per rank"),
           "torch": torch.__version__, "seqlen": args.seqlen, "heads": args.heads,
           "head_dim": args.head_dim, "causal": args.causal, "dtype": "bf16", "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"ring-{args.device}-{run['date'][:10]}"
    path = args.out / f"{stem}.json"
    path.write_text(json.dumps(run, indent=1) + "\n")
    print(path)
    print("| ranks | ms (fwd+bwd) | tokens/s per rank | efficiency |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['world']} | {row['seconds'] * 1e3:.1f} | "
              f"{row['tokens_per_s_per_rank']:.0f} | {row['efficiency']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
