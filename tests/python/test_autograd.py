"""Gradients through torch.autograd, checked by finite differences in float64 (CPU)."""

import pytest
import torch

import flashattn


@pytest.mark.parametrize("options", [
    dict(),
    dict(causal=True),
    dict(window=(2, 1)),
    dict(softcap=2.0, causal=True),
    dict(scale=0.3, window=(0, 0)),
])
@pytest.mark.parametrize("shape", [(1, 5, 7, 2, 1, 8), (2, 9, 4, 4, 2, 16)])
def test_gradcheck(options, shape):
    batch, seqlen_q, seqlen_k, heads_q, heads_kv, head_dim = shape
    generator = torch.Generator().manual_seed(sum(shape))

    def leaf(*size):
        return torch.randn(*size, generator=generator, dtype=torch.float64).requires_grad_()

    q = leaf(batch, seqlen_q, heads_q, head_dim)
    k = leaf(batch, seqlen_k, heads_kv, head_dim)
    v = leaf(batch, seqlen_k, heads_kv, head_dim)
    assert torch.autograd.gradcheck(lambda q, k, v: flashattn.attention(q, k, v, **options),
                                    (q, k, v))


def test_lse_is_not_differentiable():
    q = torch.randn(1, 4, 2, 8, dtype=torch.float64, requires_grad=True)
    out, lse = flashattn.attention(q, q, q, return_lse=True)
    assert out.requires_grad and not lse.requires_grad


def test_broadcast_output_gradient():
    # out.sum() hands the backward an expanded (stride 0) gradient: it must be accepted.
    q = torch.randn(2, 6, 2, 8, dtype=torch.float64, requires_grad=True)
    flashattn.attention(q, q, q).sum().backward()
    q2 = q.detach().clone().requires_grad_()
    from reference import reference_attention
    reference_attention(q2, q2, q2).sum().backward()
    torch.testing.assert_close(q.grad, q2.grad, rtol=1e-10, atol=1e-10)


def test_deterministic_backward_is_bitwise_reproducible():
    generator = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 70, 4, 32, generator=generator).requires_grad_() for _ in range(3))
    grads = []
    for _ in range(2):
        for t in (q, k, v):
            t.grad = None
        flashattn.attention(q, k, v, causal=True, deterministic=True).square().sum().backward()
        grads.append([t.grad.clone() for t in (q, k, v)])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
