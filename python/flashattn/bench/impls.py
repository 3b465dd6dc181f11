"""The implementations a benchmark compares: flashattn and every anchor importable here.

Each takes [B, S, H, D] tensors and returns the output in the same layout, so all see the
same inputs. `available_impls` says why an anchor is missing instead of silently dropping it.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Callable

import torch
import torch.nn.functional as F

Attention = Callable[..., torch.Tensor]


def _flashattn(deterministic: bool = False) -> Attention:
    from flashattn.ops import attention

    return lambda q, k, v, causal: attention(q, k, v, causal=causal, deterministic=deterministic)


def _flashattn_forward_path(backend: str) -> Attention:
    """The forward of one kernel path (e.g. "cuda_sm80" on Hopper, to compare the paths)."""
    from flashattn.ops import forward_raw

    def run(q, k, v, causal):
        return forward_raw(q, k, v, backend=backend, causal=causal)[0]
    run.forward_only = True  # no autograd: the backward rows skip it
    return run


def _sdpa(backend) -> Attention:
    def run(q, k, v, causal):
        context = (torch.nn.attention.sdpa_kernel(backend) if backend is not None
                   else contextlib.nullcontext())
        with context:
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                                 v.transpose(1, 2), is_causal=causal,
                                                 enable_gqa=q.shape[2] != k.shape[2])
        return out.transpose(1, 2)
    return run


def _module_function(module: str, name: str) -> Attention:
    function = getattr(importlib.import_module(module), name)

    def run(q, k, v, causal):
        out = function(q, k, v, causal=causal)
        return out[0] if isinstance(out, tuple) else out
    return run


def _flashinfer() -> Attention:
    flashinfer = importlib.import_module("flashinfer")

    def run(q, k, v, causal):
        outs = [flashinfer.single_prefill_with_kv_cache(q[b], k[b], v[b], causal=causal)
                for b in range(q.shape[0])]
        return torch.stack(outs)
    return run


def available_impls(device: str) -> dict[str, Attention | str]:
    """name -> callable, or name -> reason it is unavailable."""
    from flashattn import cuda_available

    impls: dict[str, Attention | str] = {}
    if device == "cpu":
        impls["flashattn-cpu"] = _flashattn()
        impls["sdpa-cpu"] = _sdpa(None)
        return impls
    backends = torch.nn.attention.SDPBackend
    impls["flashattn"] = (_flashattn() if cuda_available()
                          else "no CUDA attention kernel in this build yet")
    # The sm80 (mma.sync) forward where the automatic choice is another path (forward only).
    impls["flashattn-sm80"] = (_flashattn_forward_path("cuda_sm80") if cuda_available()
                               else "no CUDA attention kernel in this build yet")
    # The cost of bitwise-reproducible gradients (the forward is the same kernel).
    impls["flashattn-deterministic"] = (_flashattn(deterministic=True) if cuda_available()
                                        else "no CUDA attention kernel in this build yet")
    impls["sdpa-flash"] = _sdpa(backends.FLASH_ATTENTION)
    impls["sdpa-cudnn"] = _sdpa(backends.CUDNN_ATTENTION)
    for name, module, function in (("fa3", "flash_attn_interface", "flash_attn_func"),
                                   ("fa2", "flash_attn", "flash_attn_func")):
        try:
            impls[name] = _module_function(module, function)
        except ImportError as error:
            impls[name] = f"not installed ({error})"
    try:
        impls["flashinfer"] = _flashinfer()
    except ImportError as error:
        impls["flashinfer"] = f"not installed ({error})"
    return impls
