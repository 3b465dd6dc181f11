"""One benchmark case, a few times, for a profiler: python scripts/profile_case.py IMPL DIR D S
[--causal] [--tokens N]. IMPL is a name from flashattn.bench.impls (flashattn, sdpa-flash, ...).
Example: ncu -k regex:backward_kernel python scripts/profile_case.py flashattn bwd 128 4096"""

import argparse

import torch

from flashattn.bench.grid import prefill_cases
from flashattn.bench.impls import available_impls

parser = argparse.ArgumentParser()
parser.add_argument("impl")
parser.add_argument("direction", choices=["fwd", "bwd"])
parser.add_argument("head_dim", type=int)
parser.add_argument("seqlen", type=int)
parser.add_argument("--causal", action="store_true")
parser.add_argument("--tokens", type=int, default=16384)
parser.add_argument("--iterations", type=int, default=3)
args = parser.parse_args()

case = next(prefill_cases([args.direction], ["bf16"], [args.head_dim], [args.seqlen],
                          [args.causal], args.tokens, 2048))
impl = available_impls("cuda")[args.impl]
shape = dict(device="cuda", dtype=torch.bfloat16, requires_grad=args.direction == "bwd")
q = torch.randn(case.batch, case.seqlen_q, case.heads_q, case.head_dim, **shape)
k, v = (torch.randn(case.batch, case.seqlen_k, case.heads_kv, case.head_dim, **shape)
        for _ in range(2))
for _ in range(args.iterations):
    out = impl(q, k, v, args.causal)
    if args.direction == "bwd":
        torch.autograd.grad(out, (q, k, v), torch.ones_like(out))
torch.cuda.synchronize()
