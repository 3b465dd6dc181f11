"""The CUDA forward against an fp64 reference on random shapes (skipped without a GPU)."""

import pytest
import torch

import flashattn
from flashattn.ops import forward_raw
from gpu_cases import make_qkv, random_case
from reference import assert_within_tolerance, reference_attention, visibility_mask

pytestmark = pytest.mark.gpu

NUM_CASES = 240


def random_inputs(seed):
    case = random_case(seed)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    q, k, v = make_qkv(case, generator)
    return case, q, k, v


def check_against_reference(case, q, k, v, out, lse):
    options = dict(causal=case["causal"], window=case["window"], softcap=case["softcap"])
    exact = reference_attention(q.double(), k.double(), v.double(), **options)
    naive = reference_attention(q, k, v, **options)
    rtol = 3.0 if case["softcap"] > 0 else 2.0
    assert out.dtype == q.dtype and out.shape == q.shape
    assert_within_tolerance(out, exact, naive, rtol, f"out {case}")

    # LSE: exact in fp64 against the naive low-precision one.
    def logsumexp(q, k):
        group = q.shape[2] // k.shape[2]
        k = k.repeat_interleave(group, dim=2)
        scale = q.shape[-1] ** -0.5
        scores = torch.einsum("bihd,bjhd->bhij", q * scale, k)
        if case["softcap"] > 0:
            scores = case["softcap"] * torch.tanh(scores / case["softcap"])
        visible = visibility_mask(q.shape[1], k.shape[1], case["causal"], case["window"])
        scores = scores.float().masked_fill(~visible.cuda(), float("-inf"))
        lse = torch.logsumexp(scores.double(), dim=-1)
        return torch.where(torch.isinf(lse), torch.full_like(lse, float("inf")), lse)

    exact_lse = logsumexp(q.double(), k.double())
    assert torch.equal(torch.isinf(lse), torch.isinf(exact_lse)), "empty rows must give +inf"
    finite = ~torch.isinf(exact_lse)
    assert_within_tolerance(lse[finite], exact_lse[finite], logsumexp(q, k)[finite], rtol,
                            f"lse {case}")


@pytest.mark.parametrize("seed", range(NUM_CASES))
def test_forward_matches_reference(seed):
    case, q, k, v = random_inputs(seed)
    out, lse = flashattn.attention(q, k, v, return_lse=True, causal=case["causal"],
                                   window=case["window"], softcap=case["softcap"])
    check_against_reference(case, q, k, v, out, lse)


def run_sm80_path(case, q, k, v):
    return forward_raw(q, k, v, backend="cuda_sm80", causal=case["causal"],
                       window_left=case["window"][0], window_right=case["window"][1],
                       softcap=case["softcap"])


# On Hopper the automatic choice runs the sm90 kernels for most head dims; the sm80 ones (its
# fallback, and the kernels of every other GPU) get every second random case forced.
hopper_only = pytest.mark.skipif(
    torch.cuda.is_available() and torch.cuda.get_device_capability() != (9, 0),
    reason="the automatic choice is the sm80 path here")


@hopper_only
@pytest.mark.parametrize("seed", range(0, NUM_CASES, 2))
def test_sm80_path_on_hopper_matches_reference(seed):
    case, q, k, v = random_inputs(seed)
    check_against_reference(case, q, k, v, *run_sm80_path(case, q, k, v))


# Edges of the sm80 tiles at the head dims whose automatic choice on Hopper is sm90: one key
# block, fewer rows than a block, rows that see nothing inside a block that others see, softcap.
SM80_EDGE_CASES = [
    dict(seqlen_q=40, seqlen_k=50),
    dict(seqlen_q=130, seqlen_k=64, causal=True),
    dict(seqlen_q=300, seqlen_k=200, window=(0, 10)),
    dict(seqlen_q=257, seqlen_k=333, softcap=20.0),
    dict(seqlen_q=1, seqlen_k=1000),
]


@hopper_only
@pytest.mark.parametrize("head_dim", [64, 128, 200, 256])
@pytest.mark.parametrize("edge", range(len(SM80_EDGE_CASES)))
def test_sm80_path_on_hopper_edges(head_dim, edge):
    case = dict(batch=2, heads_kv=2, heads_q=4, head_dim=head_dim, dtype=torch.bfloat16,
                causal=False, window=(-1, -1), softcap=0.0, layout="contiguous")
    case.update(SM80_EDGE_CASES[edge])
    generator = torch.Generator(device="cuda").manual_seed(edge)
    q, k, v = make_qkv(case, generator)
    check_against_reference(case, q, k, v, *run_sm80_path(case, q, k, v))


def test_fully_masked_rows_give_zero_and_infinite_lse():
    q = torch.randn(2, 300, 4, 64, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(2, 100, 4, 64, device="cuda", dtype=torch.bfloat16)
    out, lse = flashattn.attention(q, k, k, causal=True, return_lse=True)
    assert (out[:, :200] == 0).all() and torch.isinf(lse[:, :, :200]).all()
    assert not out.isnan().any() and torch.isfinite(lse[:, :, 200:]).all()


@pytest.mark.parametrize("head_dim", [64, 128, 256])
def test_persistent_grid_takes_empty_and_full_tiles_in_one_cta(head_dim):
    # 4096 causal queries on 300 keys: the first 3796 rows see no key, so most query blocks are
    # empty; 12 heads give 264-384 tiles, more than one per CTA of the sm90 persistent grid, so
    # CTAs take empty tiles between full ones (the consumers write those rows themselves).
    q = torch.randn(1, 4096, 12, head_dim, device="cuda", dtype=torch.bfloat16)
    k, v = (torch.randn(1, 300, 4, head_dim, device="cuda", dtype=torch.bfloat16)
            for _ in range(2))
    out, lse = flashattn.attention(q, k, v, causal=True, return_lse=True)
    empty = 4096 - 300
    assert (out[:, :empty] == 0).all() and torch.isinf(lse[:, :, :empty]).all()
    assert torch.isfinite(lse[:, :, empty:]).all()
    tail = slice(empty, None)
    exact = reference_attention(q.double(), k.double(), v.double(), causal=True)
    naive = reference_attention(q, k, v, causal=True)
    assert_within_tolerance(out[:, tail], exact[:, tail], naive[:, tail], 2.0,
                            f"causal 4096 x 300, d{head_dim}")


@pytest.mark.parametrize("head_dim", [64, 128, 256])
def test_persistent_grid_without_a_band(head_dim):
    # No mask (d128: the three-consumer kernel without overlap): 1100 queries leave a partial
    # first block on the sm90 path's 128- or 192-row tiles (52 rows before the sequence, so the
    # first warpgroup straddles its start), 900 keys a partial last key block, and 2 x 16 heads
    # give more tiles than CTAs, so each CTA takes several.
    q = torch.randn(2, 1100, 16, head_dim, device="cuda", dtype=torch.bfloat16)
    k, v = (torch.randn(2, 900, 4, head_dim, device="cuda", dtype=torch.bfloat16)
            for _ in range(2))
    out, lse = flashattn.attention(q, k, v, return_lse=True)
    assert torch.isfinite(lse).all()
    exact = reference_attention(q.double(), k.double(), v.double())
    naive = reference_attention(q, k, v)
    assert_within_tolerance(out, exact, naive, 2.0, f"1100 x 900 without a mask, d{head_dim}")


# Each kernel run_forward picks on Hopper at d64 and d128: with and without a band, with and
# without softcap (only the Softcap kernels compile its tanh in; 768 queries keep d128 without a
# band on its 192-row kernel).
@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("softcap", [0.0, 20.0])
def test_every_kernel_choice_of_band_and_softcap(head_dim, causal, softcap):
    case = dict(batch=2, heads_kv=2, heads_q=8, head_dim=head_dim, dtype=torch.bfloat16,
                seqlen_q=768, seqlen_k=700, causal=causal, window=(-1, -1), softcap=softcap,
                layout="contiguous")
    generator = torch.Generator(device="cuda").manual_seed(head_dim + int(causal) + int(softcap))
    q, k, v = make_qkv(case, generator)
    out, lse = flashattn.attention(q, k, v, return_lse=True, causal=causal, softcap=softcap)
    check_against_reference(case, q, k, v, out, lse)


def test_repeated_runs_are_bitwise_identical():
    q, k, v = (torch.randn(3, 777, 8, 128, device="cuda", dtype=torch.float16) for _ in range(3))
    first = flashattn.attention(q, k, v, causal=True)
    for _ in range(5):
        assert torch.equal(flashattn.attention(q, k, v, causal=True), first)


def test_broadcast_keys_fall_back_from_tma():
    # expand() gives K and V a batch stride of 0, which TMA cannot express: on Hopper the
    # automatic path runs the sm80 kernel, and forcing the sm90 one names the reason.
    from flashattn import _C

    q = torch.randn(3, 200, 4, 64, device="cuda", dtype=torch.bfloat16)
    k, v = (torch.randn(1, 150, 2, 64, device="cuda", dtype=torch.bfloat16).expand(3, -1, -1, -1)
            for _ in range(2))
    out = flashattn.attention(q, k, v, causal=True)
    exact = reference_attention(q.double(), k.double(), v.double(), causal=True)
    naive = reference_attention(q, k, v, causal=True)
    assert_within_tolerance(out, exact, naive, 2.0, "broadcast k/v")
    if torch.cuda.get_device_capability() == (9, 0):
        lse = q.new_empty((3, 4, 200), dtype=torch.float32)
        with pytest.raises(Exception, match="k has a stride of 0 elements"):
            _C.forward(q, k, v, torch.empty_like(q), lse, causal=True, backend="cuda_sm90",
                       stream=torch.cuda.current_stream().cuda_stream)


def test_more_than_2_to_the_31_elements():
    # 64-bit offsets: q and out hold more than 2^31 elements (4.3 GB each in bfloat16).
    q = torch.randn(1, 131100, 128, 128, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, 64, 128, 128, device="cuda", dtype=torch.bfloat16)
    out = flashattn.attention(q, k, k)
    tail = reference_attention(q[:, -5:].double(), k.double(), k.double())
    torch.testing.assert_close(out[:, -5:].double(), tail, atol=2e-2, rtol=0)
