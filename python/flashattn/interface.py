"""Drop-in replacements for the flash-attn 2.x functions: swapping the import is enough.

    from flashattn.interface import flash_attn_func   # was: from flash_attn import ...

Same parameter names, defaults and return conventions. Features not built yet (dropout,
ALiBi) raise NotImplementedError instead of being ignored.
"""

from __future__ import annotations

from typing import Optional

import torch

from .ops import attention


def _check_unbuilt_features(dropout_p: float, alibi_slopes: Optional[torch.Tensor]) -> None:
    if dropout_p > 0.0:
        raise NotImplementedError("flashattn: dropout_p > 0 is not implemented yet; pass 0.0")
    if alibi_slopes is not None:
        raise NotImplementedError("flashattn: alibi_slopes is not implemented yet; pass None")


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False,
                    window_size=(-1, -1), softcap=0.0, alibi_slopes=None, deterministic=False,
                    return_attn_probs=False):
    """q [B, Sq, Hq, D], k/v [B, Sk, Hkv, D] -> out [B, Sq, Hq, D].

    With return_attn_probs=True returns (out, softmax_lse [B, Hq, Sq] float32, None): like
    flash-attn, whose third value is only meaningful with dropout.
    """
    _check_unbuilt_features(dropout_p, alibi_slopes)
    window_left, window_right = window_size
    if causal:
        window_right = 0  # flash-attn: causal overrides the right edge of the window
    out, lse = attention(q, k, v, scale=softmax_scale, causal=causal,
                         window=(window_left, window_right), softcap=softcap,
                         deterministic=deterministic, return_lse=True)
    return (out, lse, None) if return_attn_probs else out


def flash_attn_qkvpacked_func(qkv, dropout_p=0.0, softmax_scale=None, causal=False,
                              window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                              deterministic=False, return_attn_probs=False):
    """qkv [B, S, 3, H, D] -> out [B, S, H, D]."""
    if qkv.dim() != 5 or qkv.shape[2] != 3:
        raise ValueError(f"qkv: expected shape [batch, seqlen, 3, heads, head_dim], got "
                         f"{list(qkv.shape)}")
    return flash_attn_func(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], dropout_p, softmax_scale,
                           causal, window_size, softcap, alibi_slopes, deterministic,
                           return_attn_probs)


def flash_attn_kvpacked_func(q, kv, dropout_p=0.0, softmax_scale=None, causal=False,
                             window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                             deterministic=False, return_attn_probs=False):
    """q [B, Sq, Hq, D], kv [B, Sk, 2, Hkv, D] -> out [B, Sq, Hq, D]."""
    if kv.dim() != 5 or kv.shape[2] != 2:
        raise ValueError(f"kv: expected shape [batch, seqlen_k, 2, heads_k, head_dim], got "
                         f"{list(kv.shape)}")
    return flash_attn_func(q, kv[:, :, 0], kv[:, :, 1], dropout_p, softmax_scale, causal,
                           window_size, softcap, alibi_slopes, deterministic, return_attn_probs)
