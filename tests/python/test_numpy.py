"""The native module on NumPy arrays: DLPack in, results written in place, strides honoured."""

import numpy as np

from flashattn import _C


def naive(q, k, v, causal):
    scores = np.einsum("bihd,bjhd->bhij", q, k) / np.sqrt(q.shape[-1])
    if causal:
        offset = k.shape[1] - q.shape[1]
        visible = np.tril(np.ones((q.shape[1], k.shape[1]), dtype=bool), offset)
        scores = np.where(visible, scores, -np.inf)
    probabilities = np.exp(scores - scores.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return np.einsum("bhij,bjhd->bihd", probabilities, v)


def test_float64_strided_views_in_place():
    rng = np.random.default_rng(0)
    storage = rng.standard_normal((2, 3, 20, 24))  # [B, H, S, D] storage
    q = storage[:, :, :11, :16].transpose(0, 2, 1, 3)  # non-contiguous [B, S, H, D]
    k = storage[:, :, 4:, 8:].transpose(0, 2, 1, 3)
    out = np.zeros((2, 11, 3, 16))
    lse = np.zeros((2, 3, 11), dtype=np.float32)
    _C.forward(q, k, k, out, lse, causal=True)
    np.testing.assert_allclose(out, naive(q, k, k, causal=True), rtol=1e-12, atol=1e-12)


def test_float16():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((1, 9, 2, 8)).astype(np.float16)
    out = np.zeros_like(q)
    lse = np.zeros((1, 2, 9), dtype=np.float32)
    _C.forward(q, q, q, out, lse)
    expected = naive(q.astype(np.float64), q.astype(np.float64), q.astype(np.float64), False)
    np.testing.assert_allclose(out.astype(np.float64), expected, atol=2e-3)
