"""flashattn.attention against torch SDPA / an explicit reference on random shapes (CPU)."""

import random

import pytest
import torch

import flashattn
from reference import assert_within_tolerance, reference_attention, sdpa_attention

NUM_CASES = 120


def random_case(seed: int) -> dict:
    rng = random.Random(seed)
    heads_kv = rng.choice([1, 2, 3])
    window = (-1, -1)
    if rng.random() < 0.25:
        window = (rng.choice([-1, 0, 3, 17]), rng.choice([-1, 0, 5]))
    return dict(
        batch=rng.choice([1, 2, 3]),
        seqlen_q=rng.choice([1, 2, 7, 16, 33, 64, 65, 100, 129]),
        seqlen_k=rng.choice([1, 3, 16, 31, 64, 77, 128, 150]),
        heads_kv=heads_kv,
        heads_q=heads_kv * rng.choice([1, 2, 4]),
        head_dim=rng.choice([8, 16, 32, 40, 64, 128]),
        dtype=rng.choice([torch.float64, torch.float32, torch.bfloat16, torch.float16]),
        causal=rng.random() < 0.4 and window == (-1, -1),
        window=window,
        softcap=rng.choice([0.0, 0.0, 0.0, 5.0]),
        transpose_heads=rng.random() < 0.3,
    )


def make_inputs(case: dict, seed: int):
    generator = torch.Generator().manual_seed(seed)

    def tensor(seqlen, heads):
        shape = (case["batch"], seqlen, heads, case["head_dim"])
        if case["transpose_heads"]:  # [B, H, S, D] storage seen as [B, S, H, D]: non-contiguous
            data = torch.randn(shape[0], shape[2], shape[1], shape[3], generator=generator,
                               dtype=torch.float64)
            return data.to(case["dtype"]).transpose(1, 2)
        return torch.randn(shape, generator=generator, dtype=torch.float64).to(case["dtype"])

    q = tensor(case["seqlen_q"], case["heads_q"])
    k = tensor(case["seqlen_k"], case["heads_kv"])
    v = tensor(case["seqlen_k"], case["heads_kv"])
    dout = tensor(case["seqlen_q"], case["heads_q"])
    return q, k, v, dout


def gradients(function, q, k, v, dout):
    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = function(q, k, v)
    out.backward(dout)
    return out.detach(), q.grad, k.grad, v.grad


@pytest.mark.parametrize("seed", range(NUM_CASES))
def test_matches_reference(seed):
    case = random_case(seed)
    q, k, v, dout = make_inputs(case, seed)
    options = dict(causal=case["causal"], window=case["window"], softcap=case["softcap"])
    ours = gradients(lambda q, k, v: flashattn.attention(q, k, v, **options), q, k, v, dout)

    if case["softcap"] > 0:
        def reference(q, k, v):
            return reference_attention(q, k, v, **options)
    else:  # plain attention: the reference is torch SDPA itself
        def reference(q, k, v):
            return sdpa_attention(q, k, v, causal=case["causal"], window=case["window"])
    exact = gradients(reference, *(t.double() for t in (q, k, v, dout)))
    naive = gradients(reference, q, k, v, dout)  # same math in the input dtype
    rtol = 3.0 if case["softcap"] > 0 else 2.0
    for name, a, b, c in zip(("out", "dq", "dk", "dv"), ours, exact, naive):
        assert a.dtype == q.dtype and a.shape == c.shape, name
        assert_within_tolerance(a, b, c, rtol, f"{name} {case}")


def test_gqa_matches_sdpa_enable_gqa():
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(2, 37, 8, 32, generator=generator, dtype=torch.float64)
    k = torch.randn(2, 45, 2, 32, generator=generator, dtype=torch.float64)
    v = torch.randn(2, 45, 2, 32, generator=generator, dtype=torch.float64)
    expected = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), enable_gqa=True).transpose(1, 2)
    torch.testing.assert_close(flashattn.attention(q, k, v), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seqlen_q,seqlen_k", [(5, 9), (9, 5), (1, 7), (64, 65)])
def test_causal_is_bottom_right_aligned(seqlen_q, seqlen_k):
    generator = torch.Generator().manual_seed(seqlen_q * 100 + seqlen_k)
    q = torch.randn(1, seqlen_q, 2, 16, generator=generator, dtype=torch.float64)
    k = torch.randn(1, seqlen_k, 2, 16, generator=generator, dtype=torch.float64)
    v = torch.randn(1, seqlen_k, 2, 16, generator=generator, dtype=torch.float64)
    # Explicit mask: query i sees key j iff j <= i + Sk - Sq; rows that see nothing give 0.
    mask = torch.ones(seqlen_q, seqlen_k, dtype=torch.bool).tril(seqlen_k - seqlen_q)
    expected = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask).transpose(1, 2)
    out, lse = flashattn.attention(q, k, v, causal=True, return_lse=True)
    torch.testing.assert_close(out, expected.nan_to_num(0.0), rtol=1e-12, atol=1e-12)
    empty_rows = ~mask.any(dim=1)
    assert torch.isinf(lse[:, :, empty_rows]).all() and (lse[:, :, empty_rows] > 0).all()
