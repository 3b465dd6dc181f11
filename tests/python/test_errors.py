"""Bad input gives a clear error that names the argument; nothing is written."""

import numpy as np
import pytest
import torch

import flashattn
from flashattn import _C
from flashattn.interface import flash_attn_func


def qkv(*, dtype=torch.float32, heads_kv=2, head_dim=16):
    return (torch.randn(1, 8, 4, head_dim, dtype=dtype),
            torch.randn(1, 8, heads_kv, head_dim, dtype=dtype),
            torch.randn(1, 8, heads_kv, head_dim, dtype=dtype))


def test_integer_dtype_names_q():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="^q: .*float16, bfloat16, float32 or float64"):
        flashattn.attention(q.int(), k, v)


def test_mismatched_dtypes_name_k():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="^k: expected dtype float32"):
        flashattn.attention(q, k.double(), v)


def test_mismatched_devices_name_k():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="^k: expected device cpu"):
        flashattn.attention(q, k.to("meta"), v)


def test_wrong_rank_names_q():
    q, k, v = qkv()
    with pytest.raises(ValueError, match=r"^q: expected 4 dimensions"):
        flashattn.attention(q[0], k, v)


def test_gqa_ratio():
    q, k, v = qkv(heads_kv=3)
    with pytest.raises(ValueError, match="must divide the query head count"):
        flashattn.attention(q, k, v)


def test_head_dim_too_large():
    q, k, v = qkv(head_dim=264)
    with pytest.raises(ValueError, match=r"head dimension must be in \[1, 256\]"):
        flashattn.attention(q, k, v)


def test_causal_with_right_window():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="^window_right: causal=true"):
        flashattn.attention(q, k, v, causal=True, window=(-1, 3))


def test_unbuilt_features_raise_not_implemented():
    q, k, v = qkv()
    with pytest.raises(NotImplementedError, match="dropout"):
        flash_attn_func(q, k, v, dropout_p=0.1)
    with pytest.raises(NotImplementedError, match="alibi"):
        flash_attn_func(q, k, v, alibi_slopes=torch.ones(4))


def test_cuda_tensors_without_cuda_kernels():
    if torch.cuda.is_available():
        pytest.skip("covered by the GPU tests")
    q, k, v = qkv()
    with pytest.raises(ValueError, match="^backend: the cuda backend needs CUDA tensors"):
        _C.forward(q, k, v, torch.empty_like(q), torch.empty(1, 4, 8), backend="cuda")


def test_numpy_strided_last_dimension_is_rejected_untouched():
    q = np.random.rand(1, 8, 4, 32).astype(np.float32)[..., ::2]  # last stride 2
    k = np.random.rand(1, 8, 4, 16).astype(np.float32)
    out = np.full((1, 8, 4, 16), 7.0, dtype=np.float32)
    lse = np.full((1, 4, 8), 7.0, dtype=np.float32)
    with pytest.raises(ValueError, match="^q: the last dimension must be contiguous"):
        _C.forward(q, k, k, out, lse)
    assert (out == 7.0).all() and (lse == 7.0).all()


def test_bad_backend_name():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="^backend: expected one of"):
        _C.forward(q, k, v, torch.empty_like(q), torch.empty(1, 4, 8), backend="tpu")
