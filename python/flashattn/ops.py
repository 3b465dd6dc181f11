"""PyTorch custom ops (torch.library) with fake kernels and autograd.

`flashattn::forward` and `flashattn::backward` are opaque to torch.compile, which traces
through them with the fake (meta) implementations: no graph break.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from . import _C

_LAYOUT = "[batch, seqlen, heads, head_dim]"


def _stream(tensor: torch.Tensor) -> int:
    return torch.cuda.current_stream(tensor.device).cuda_stream if tensor.is_cuda else 0


def _lse_dtype(q: torch.Tensor) -> torch.dtype:
    # float64 inputs keep a float64 LSE so their backward stays at double precision.
    return torch.float64 if q.dtype == torch.float64 else torch.float32


def _unit_last_stride(tensor: torch.Tensor) -> torch.Tensor:
    # The kernels read rows contiguously; copy only when the last dimension is strided.
    return tensor if tensor.stride(-1) == 1 else tensor.contiguous()


def forward_raw(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, backend: str = "auto",
                **options) -> tuple[torch.Tensor, torch.Tensor]:
    """out, lse from the kernels directly (no autograd): `backend` names a path ("cuda_sm80"
    forces the mma.sync kernels on Hopper), `options` are `_C.forward`'s (scale, causal,
    window_left, window_right, softcap)."""
    batch, seqlen_q, heads_q, _ = q.shape
    out = q.new_empty((batch, seqlen_q, heads_q, v.shape[-1]))
    lse = q.new_empty((batch, heads_q, seqlen_q), dtype=_lse_dtype(q))
    _C.forward(q, k, v, out, lse, backend=backend, stream=_stream(q), **options)
    return out, lse


@torch.library.custom_op("flashattn::forward", mutates_args=())
def forward_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, causal: bool,
               window_left: int, window_right: int, softcap: float, deterministic: bool
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """out, lse; `deterministic` is only kept for the backward."""
    return forward_raw(q.detach(), k.detach(), v.detach(), scale=scale, causal=causal,
                       window_left=window_left, window_right=window_right, softcap=softcap)


@forward_op.register_fake
def _forward_fake(q, k, v, scale, causal, window_left, window_right, softcap, deterministic):
    batch, seqlen_q, heads_q, _ = q.shape
    out = q.new_empty((batch, seqlen_q, heads_q, v.shape[-1]))
    lse = q.new_empty((batch, heads_q, seqlen_q), dtype=_lse_dtype(q))
    return out, lse


@torch.library.custom_op("flashattn::backward", mutates_args=())
def backward_op(dout: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                out: torch.Tensor, lse: torch.Tensor, scale: float, causal: bool,
                window_left: int, window_right: int, softcap: float, deterministic: bool
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    _C.backward(_unit_last_stride(dout.detach()), q.detach(), k.detach(), v.detach(),
                out.detach(), lse.detach(), dq, dk, dv, scale=scale, causal=causal,
                window_left=window_left, window_right=window_right, softcap=softcap,
                deterministic=deterministic, stream=_stream(q))
    return dq, dk, dv


@backward_op.register_fake
def _backward_fake(dout, q, k, v, out, lse, scale, causal, window_left, window_right, softcap,
                   deterministic):
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _setup_context(ctx, inputs, output):
    q, k, v, *options = inputs
    out, lse = output
    ctx.save_for_backward(q, k, v, out, lse)
    ctx.options = options
    # Like flash-attn, the LSE is an auxiliary output: no gradient flows through it. Unmaterialized
    # gradients spare a zero-filled LSE gradient per backward (autograd passes None instead).
    ctx.mark_non_differentiable(lse)
    ctx.set_materialize_grads(False)


def _backward(ctx, dout, _dlse):
    no_option_grads = (None,) * len(ctx.options)  # scale, causal, window, softcap, ...
    if dout is None:  # the output took no part in the loss
        return (None, None, None) + no_option_grads
    q, k, v, out, lse = ctx.saved_tensors
    dq, dk, dv = backward_op(dout, q, k, v, out, lse, *ctx.options)
    return (dq, dk, dv) + no_option_grads


forward_op.register_autograd(_backward, setup_context=_setup_context)


def _check_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dim() != 4:
            raise ValueError(f"{name}: expected 4 dimensions {_LAYOUT}, got shape "
                             f"{list(tensor.shape)}")
    for name, tensor in (("k", k), ("v", v)):
        if tensor.device != q.device:
            raise ValueError(f"{name}: expected device {q.device} (the device of q), got "
                             f"{tensor.device}")


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
              scale: Optional[float] = None, causal: bool = False,
              window: tuple[int, int] = (-1, -1), softcap: float = 0.0,
              deterministic: bool = False, return_lse: bool = False):
    """Exact softmax attention over [B, S, H, D] tensors (GQA when k/v have fewer heads).

    Causal masking and the window are aligned to the bottom-right corner (flash-attn
    semantics). Returns `out` [B, Sq, Hq, D], and also the float32 LSE [B, Hq, Sq] when
    `return_lse` is true (its gradient is not propagated).
    """
    _check_inputs(q, k, v)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    window_left, window_right = window
    q, k, v = _unit_last_stride(q), _unit_last_stride(k), _unit_last_stride(v)
    out, lse = forward_op(q, k, v, float(scale), bool(causal), int(window_left),
                          int(window_right), float(softcap), bool(deterministic))
    return (out, lse) if return_lse else out
