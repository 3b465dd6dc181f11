"""Seeded random problems for the GPU tests: lengths 1-4096 (odd ones too), Sq != Sk both ways,
GQA 1-8, causal, windows, softcap, every head dim, both 16-bit dtypes and three layouts."""

import random

import torch


def random_case(seed: int) -> dict:
    rng = random.Random(seed)
    long = rng.random() < 0.15
    lengths = [1, 2, 7, 63, 64, 65, 127, 128, 129, 200, 255, 257, 511, 1000]
    seqlen_q = rng.choice([1024, 1531, 2048, 4096]) if long else rng.choice(lengths)
    seqlen_k = rng.choice([1024, 2047, 4096]) if long else rng.choice(lengths)
    heads_kv = rng.choice([1, 2, 4])
    window = (-1, -1)
    causal = False
    mask_kind = rng.random()
    if mask_kind < 0.35:
        causal = True
    elif mask_kind < 0.55:
        window = (rng.choice([-1, 0, 16, 100]), rng.choice([-1, 0, 7, 64]))
    return dict(
        batch=1 if long else rng.choice([1, 2, 3]),
        seqlen_q=seqlen_q,
        seqlen_k=seqlen_k,
        heads_kv=heads_kv,
        heads_q=heads_kv * rng.choice([1, 2, 3, 8]),
        head_dim=rng.choice([32, 64, 96, 128, 192, 256, 40, 72, 136, 8, 248]),
        dtype=rng.choice([torch.float16, torch.bfloat16]),
        causal=causal,
        window=window,
        softcap=rng.choice([0.0, 0.0, 0.0, 0.0, 20.0]),
        layout=rng.choice(["contiguous", "contiguous", "heads_first", "padded"]),
    )


def make_tensor(case, seqlen, heads, generator):
    batch, head_dim = case["batch"], case["head_dim"]
    if case["layout"] == "heads_first":  # [B, H, S, D] storage seen as [B, S, H, D]
        data = torch.randn(batch, heads, seqlen, head_dim, generator=generator, device="cuda")
        return data.to(case["dtype"]).transpose(1, 2)
    if case["layout"] == "padded":  # rows padded to a larger head stride
        data = torch.randn(batch, seqlen, heads, head_dim + 16, generator=generator, device="cuda")
        return data.to(case["dtype"])[..., :head_dim]
    data = torch.randn(batch, seqlen, heads, head_dim, generator=generator, device="cuda")
    return data.to(case["dtype"])


def make_qkv(case, generator):
    """q, k, v of a case, drawn in that order from `generator`."""
    return (make_tensor(case, case["seqlen_q"], case["heads_q"], generator),
            make_tensor(case, case["seqlen_k"], case["heads_kv"], generator),
            make_tensor(case, case["seqlen_k"], case["heads_kv"], generator))
