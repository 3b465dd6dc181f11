"""Reference attention in torch (explicit masks), and the tolerance rule of docs/numerics.md."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def visibility_mask(seqlen_q: int, seqlen_k: int, causal: bool, window=(-1, -1)) -> torch.Tensor:
    """Bool [Sq, Sk]: query i sees key j (bottom-right aligned causal / window)."""
    left, right = window
    if causal:
        right = 0
    i = torch.arange(seqlen_q).unsqueeze(1) + (seqlen_k - seqlen_q)
    j = torch.arange(seqlen_k).unsqueeze(0)
    visible = torch.ones(seqlen_q, seqlen_k, dtype=torch.bool)
    if left >= 0:
        visible &= j >= i - left
    if right >= 0:
        visible &= j <= i + right
    return visible


def reference_attention(q, k, v, scale=None, causal=False, window=(-1, -1), softcap=0.0):
    """[B, S, H, D] attention written out: scores, softcap, mask, softmax, P V.

    Rows with no visible key give 0 (not NaN). Computes in the dtype of its inputs.
    """
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    group = q.shape[2] // k.shape[2]
    k = k.repeat_interleave(group, dim=2)
    v = v.repeat_interleave(group, dim=2)
    scores = torch.einsum("bihd,bjhd->bhij", q * scale, k)
    if softcap > 0:
        scores = softcap * torch.tanh(scores / softcap)
    visible = visibility_mask(q.shape[1], k.shape[1], causal, window).to(q.device)
    scores = scores.masked_fill(~visible, float("-inf"))
    probabilities = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return torch.einsum("bhij,bjhd->bihd", probabilities, v)


def sdpa_attention(q, k, v, scale=None, causal=False, window=(-1, -1)):
    """The same through torch SDPA (math backend on CPU), with an explicit bottom-right mask."""
    visible = visibility_mask(q.shape[1], k.shape[1], causal, window).to(q.device)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                         attn_mask=visible, scale=scale,
                                         enable_gqa=q.shape[2] != k.shape[2])
    return out.transpose(1, 2).nan_to_num(0.0)


def assert_within_tolerance(ours, ref, naive, rtol=2.0, what="output", atol_floor=0.0):
    """max|ours - ref| <= rtol * max|naive - ref| + 2 * fp32 rounding noise of ref.

    `atol_floor` raises that noise term where it is known to be larger than ref's own (see
    cancellation_floor)."""
    ours, ref, naive = ours.double(), ref.double(), naive.double()
    rounded = ref.float()
    atol = max(2 * ((rounded + 0.3 - 0.3) - ref).abs().max().item(), atol_floor)
    error = (ours - ref).abs().max().item()
    naive_error = (naive - ref).abs().max().item()
    bound = rtol * naive_error + atol
    assert not torch.isnan(ours).any(), f"{what}: NaN"
    assert error <= bound, (f"{what}: max error {error:.3g} > bound {bound:.3g} "
                            f"(naive low-precision error {naive_error:.3g}, atol {atol:.3g})")


def cancellation_floor(q, k, v, dout, scale=None):
    """fp32 noise floor of dQ and dK: dS = P (dP - delta) subtracts two fp32 sums of size
    |dP| <= max|dO_i| max|v_j| (row norms), so any fp32 implementation is off by ~eps |dP| there
    even where the exact gradient is 0 (a row that sees one key has dS = 0 exactly, and a naive
    reference that gets P = 1 exactly has no error to scale the bound with)."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    dp = dout.double().norm(dim=-1).max() * v.double().norm(dim=-1).max()
    operand = max(q.double().abs().max(), k.double().abs().max())
    return (4 * torch.finfo(torch.float32).eps * dp * operand * scale).item()


def gradients(attention, q, k, v, dout, **options):
    """(out, [dq, dk, dv]) of attention(q, k, v, **options) for the output gradient `dout`,
    through torch autograd on detached copies of the views (layouts kept)."""
    leaves = [t.detach().requires_grad_() for t in (q, k, v)]
    out = attention(*leaves, **options)
    out.backward(dout)
    return out, [leaf.grad for leaf in leaves]
