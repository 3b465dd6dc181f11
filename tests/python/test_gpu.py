"""CUDA tensors through the torch op (skipped without a GPU)."""

import pytest
import torch

import flashattn
from reference import assert_within_tolerance, sdpa_attention

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_forward_backward(dtype):
    q, k, v, dout = (torch.randn(2, 130, 4, 64, device="cuda", dtype=dtype) for _ in range(4))
    if not flashattn.cuda_available():
        with pytest.raises(NotImplementedError, match="no CUDA attention kernel"):
            flashattn.attention(q, k, v)
        pytest.skip("no CUDA kernels in this build yet")
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    out = flashattn.attention(*leaves, causal=True)
    out.backward(dout)
    exact = [t.double().requires_grad_() for t in (q, k, v)]
    ref = sdpa_attention(*exact, causal=True)
    ref.backward(dout.double())
    naive = [t.clone().requires_grad_() for t in (q, k, v)]
    low = sdpa_attention(*naive, causal=True)
    low.backward(dout)
    assert_within_tolerance(out, ref, low)
    for ours, e, n in zip(leaves, exact, naive):
        assert_within_tolerance(ours.grad, e.grad, n.grad)
