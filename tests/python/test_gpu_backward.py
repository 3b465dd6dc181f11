"""The CUDA backward against an fp64 reference on random shapes (skipped without a GPU)."""

import pytest
import torch

import flashattn
from gpu_cases import make_qkv, make_tensor, random_case
from reference import (assert_within_tolerance, cancellation_floor, gradients,
                       reference_attention)

pytestmark = pytest.mark.gpu

NUM_CASES = 240


@pytest.mark.parametrize("seed", range(NUM_CASES))
def test_backward_matches_reference(seed):
    case = random_case(1000 + seed)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    q, k, v = make_qkv(case, generator)
    dout = make_tensor(case, case["seqlen_q"], case["heads_q"], generator)
    options = dict(causal=case["causal"], window=case["window"], softcap=case["softcap"])

    _, ours = gradients(flashattn.attention, q, k, v, dout, **options)
    _, exact = gradients(reference_attention, q.double(), k.double(), v.double(), dout.double(),
                         **options)
    _, naive = gradients(reference_attention, q, k, v, dout, **options)
    rtol = 3.0 if case["softcap"] > 0 else 2.0
    floor = cancellation_floor(q, k, v, dout)
    for name, grad, reference, low in zip(("dq", "dk", "dv"), ours, exact, naive):
        assert grad.dtype == q.dtype
        assert_within_tolerance(grad, reference, low, rtol, f"{name} {case}", floor)


def test_fully_masked_rows_get_zero_gradients():
    q, dout = (torch.randn(2, 300, 4, 64, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    k, v = (torch.randn(2, 100, 2, 64, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    _, (dq, dk, dv) = gradients(flashattn.attention, q, k, v, dout, causal=True)
    assert (dq[:, :200] == 0).all()
    for grad in (dq, dk, dv):
        assert torch.isfinite(grad).all()


def test_keys_no_query_sees_get_zero_gradients():
    q, dout = (torch.randn(1, 64, 2, 128, device="cuda", dtype=torch.float16) for _ in range(2))
    k, v = (torch.randn(1, 700, 2, 128, device="cuda", dtype=torch.float16) for _ in range(2))
    # A window of 10 keys to the left of the (bottom-right aligned) diagonal: keys < 626 unseen.
    _, (dq, dk, dv) = gradients(flashattn.attention, q, k, v, dout, window=(10, 0))
    assert (dk[:, :626] == 0).all() and (dv[:, :626] == 0).all()
    assert dk[:, 626:].abs().sum() > 0 and dv[:, 626:].abs().sum() > 0


@pytest.mark.parametrize("head_dim", [64, 128, 256])
def test_deterministic_mode_is_bitwise_repeatable(head_dim):
    generator = torch.Generator(device="cuda").manual_seed(head_dim)
    q, dout = (torch.randn(2, 1500, 8, head_dim, generator=generator, device="cuda")
               .to(torch.bfloat16) for _ in range(2))
    k, v = (torch.randn(2, 2100, 2, head_dim, generator=generator, device="cuda")
            .to(torch.bfloat16) for _ in range(2))
    _, first = gradients(flashattn.attention, q, k, v, dout, deterministic=True)
    for _ in range(3):
        _, again = gradients(flashattn.attention, q, k, v, dout, deterministic=True)
        for a, b in zip(first, again):
            assert torch.equal(a, b)
    _, default = gradients(flashattn.attention, q, k, v, dout)
    exact = gradients(reference_attention, q.double(), k.double(), v.double(), dout.double())[1]
    naive = gradients(reference_attention, q, k, v, dout)[1]
    for grads in (first, default):
        for grad, reference, low in zip(grads, exact, naive):
            assert_within_tolerance(grad, reference, low)


def test_causal_backward_over_several_head_sections():
    # Under a mask the key blocks run in sections of heads sized to half of L2 (cuda/backward.cu):
    # at S = 4k, d128 a head's Q, dO and dQ accumulator take 4 MB, so 8 heads make a full
    # section of 6 and a partial one of 2 on a 50 MB L2 (and other splits elsewhere).
    generator = torch.Generator(device="cuda").manual_seed(7)
    q, k, v, dout = (torch.randn(1, 4096, 8, 128, generator=generator, device="cuda")
                     .to(torch.bfloat16) for _ in range(4))
    _, ours = gradients(flashattn.attention, q, k, v, dout, causal=True)
    _, exact = gradients(reference_attention, q.double(), k.double(), v.double(), dout.double(),
                         causal=True)
    _, naive = gradients(reference_attention, q, k, v, dout, causal=True)
    floor = cancellation_floor(q, k, v, dout)
    for name, grad, reference, low in zip(("dq", "dk", "dv"), ours, exact, naive):
        assert_within_tolerance(grad, reference, low, 2.0, name, floor)
