"""The flash_attn-compatible functions: names, defaults and return conventions of flash-attn 2.x."""

import inspect

import torch

import flashattn
from flashattn.interface import (flash_attn_func, flash_attn_kvpacked_func,
                                 flash_attn_qkvpacked_func)

FLASH_ATTN_PARAMETERS = ["dropout_p", "softmax_scale", "causal", "window_size", "softcap",
                         "alibi_slopes", "deterministic", "return_attn_probs"]


def test_signatures_match_flash_attn_2():
    for function, leading in ((flash_attn_func, ["q", "k", "v"]),
                              (flash_attn_qkvpacked_func, ["qkv"]),
                              (flash_attn_kvpacked_func, ["q", "kv"])):
        parameters = inspect.signature(function).parameters
        assert list(parameters) == leading + FLASH_ATTN_PARAMETERS
        assert parameters["window_size"].default == (-1, -1)
        assert parameters["softcap"].default == 0.0


def test_return_attn_probs_gives_lse():
    q, k, v = (torch.randn(2, 10, 4, 16, dtype=torch.float64) for _ in range(3))
    out, lse, probs = flash_attn_func(q, k, v, causal=True, return_attn_probs=True)
    expected_out, expected_lse = flashattn.attention(q, k, v, causal=True, return_lse=True)
    assert probs is None and lse.shape == (2, 4, 10)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(lse, expected_lse)


def test_packed_variants_match_unpacked():
    qkv = torch.randn(2, 12, 3, 4, 16, dtype=torch.float64, requires_grad=True)
    packed = flash_attn_qkvpacked_func(qkv, causal=True, window_size=(3, 0))
    unpacked = flash_attn_func(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], causal=True,
                               window_size=(3, 0))
    torch.testing.assert_close(packed, unpacked)
    packed.sum().backward()
    assert qkv.grad is not None and qkv.grad.abs().sum() > 0

    q = torch.randn(2, 5, 4, 16, dtype=torch.float64)
    kv = torch.randn(2, 12, 2, 2, 16, dtype=torch.float64)
    torch.testing.assert_close(flash_attn_kvpacked_func(q, kv, softmax_scale=0.2),
                               flash_attn_func(q, kv[:, :, 0], kv[:, :, 1], softmax_scale=0.2))


def test_causal_overrides_right_window_like_flash_attn():
    q, k, v = (torch.randn(1, 9, 2, 8, dtype=torch.float64) for _ in range(3))
    torch.testing.assert_close(flash_attn_func(q, k, v, causal=True, window_size=(2, 5)),
                               flashattn.attention(q, k, v, causal=True, window=(2, 0)))
