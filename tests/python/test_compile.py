"""torch.compile(fullgraph=True) traces through the custom ops: no graph break."""

import pytest
import torch

import flashattn


class TinyAttentionBlock(torch.nn.Module):
    def __init__(self, dim=32, heads=4, kv_heads=2):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q = torch.nn.Linear(dim, dim)
        self.kv = torch.nn.Linear(dim, 2 * kv_heads * self.head_dim)
        self.proj = torch.nn.Linear(dim, dim)

    def forward(self, x):
        batch, seqlen, _ = x.shape
        q = self.q(x).view(batch, seqlen, self.heads, self.head_dim)
        k, v = self.kv(x).view(batch, seqlen, 2, self.kv_heads, self.head_dim).unbind(2)
        out = flashattn.attention(q, k, v, causal=True)
        return self.proj(out.reshape(batch, seqlen, -1))


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_fullgraph_compile_matches_eager(backend):
    torch.manual_seed(0)
    model = TinyAttentionBlock()
    x = torch.randn(2, 19, 32, requires_grad=True)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    expected = model(x)
    expected.square().sum().backward()
    expected_grad = x.grad.clone()
    x.grad = None
    got = compiled(x)
    got.square().sum().backward()
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(x.grad, expected_grad)


def test_opcheck():
    q = torch.randn(1, 7, 2, 8, requires_grad=True)
    k = torch.randn(1, 9, 1, 8, requires_grad=True)
    v = torch.randn(1, 9, 1, 8, requires_grad=True)
    from flashattn.ops import forward_op
    torch.library.opcheck(forward_op, (q, k, v, 0.35, True, -1, 0, 0.0, False))
