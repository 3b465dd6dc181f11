"""Ring attention on CPU processes with Gloo (world sizes 1-4) and on every visible GPU with NCCL:
every rank's output and gradient shards against the whole-sequence reference (fp64 exact,
naive low precision), DESIGN.md §4 rule."""

import json
import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from flashattn.bench import ring as ring_bench
from flashattn.distributed import ring_attention, shard
from reference import (assert_within_tolerance, cancellation_floor, gradients,
                       reference_attention)

CASES = [
    # (name, dtype, global length per rank count, heads q / kv, head dim, options, layout)
    ("plain gqa uneven", torch.bfloat16, lambda w: 13 * w + 5, (4, 2), 32, {}, "contiguous"),
    ("causal fp32", torch.float32, lambda w: 11 * w + 3, (2, 2), 16, {"causal": True},
     "contiguous"),
    ("causal zigzag", torch.bfloat16, lambda w: 12 * w, (4, 1), 32, {"causal": True}, "zigzag"),
    ("sliding window softcap", torch.float32, lambda w: 9 * w + 7, (2, 1), 16,
     {"causal": True, "window": (6, 0), "softcap": 5.0}, "contiguous"),
    ("two-sided window zigzag", torch.bfloat16, lambda w: 10 * w, (2, 2), 32,
     {"window": (3, 8)}, "zigzag"),
]


def check_case(rank, world, case, device="cpu"):
    name, dtype, length_of, (heads_q, heads_kv), head_dim, options, layout = case
    if device != "cpu" and dtype == torch.float32:
        dtype = torch.bfloat16  # the CUDA kernels take 16-bit inputs
    length = length_of(world)
    generator = torch.Generator().manual_seed(len(name) + 7 * world)
    q, dout = (torch.randn(2, length, heads_q, head_dim, generator=generator).to(device, dtype)
               for _ in range(2))
    k, v = (torch.randn(2, length, heads_kv, head_dim, generator=generator).to(device, dtype)
            for _ in range(2))
    shards = [shard(t, rank, world, layout) for t in (q, k, v, dout)]
    out, grads = gradients(lambda *qkv, **o: ring_attention(*qkv, layout=layout, **o),
                           *shards, **options)
    reference_options = dict(options)
    exact_out, exact = gradients(reference_attention, q.double(), k.double(), v.double(),
                                 dout.double(), **reference_options)
    naive_out, naive = gradients(reference_attention, q, k, v, dout, **reference_options)
    rtol = 3.0 if options.get("softcap", 0) > 0 else 2.0
    what = f"{name}, rank {rank} of {world}"
    assert out.dtype == dtype and out.shape == shards[0].shape
    assert_within_tolerance(out, shard(exact_out, rank, world, layout),
                            shard(naive_out, rank, world, layout), rtol, f"out {what}")
    floor = cancellation_floor(q, k, v, dout)
    for label, grad, reference, low in zip(("dq", "dk", "dv"), grads, exact, naive):
        assert grad.dtype == dtype, label
        assert_within_tolerance(grad, shard(reference, rank, world, layout),
                                shard(low, rank, world, layout), rtol, f"{label} {what}",
                                floor)


def worker(rank, world, init_file, device="cpu"):
    backend = "gloo" if device == "cpu" else "nccl"
    if device != "cpu":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        torch.set_num_threads(1)
        for case in CASES:
            check_case(rank, world, case, device if device == "cpu" else f"cuda:{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_ring_attention_matches_the_whole_sequence(world):
    with tempfile.TemporaryDirectory() as directory:
        mp.spawn(worker, args=(world, os.path.join(directory, "init")), nprocs=world)


@pytest.mark.gpu
def test_ring_attention_on_gpus_with_nccl():
    world = torch.cuda.device_count()
    with tempfile.TemporaryDirectory() as directory:
        mp.spawn(worker, args=(world, os.path.join(directory, "init"), "cuda"), nprocs=world)


def test_needs_an_initialised_process_group():
    if dist.is_initialized():
        pytest.skip("a process group is already initialised here")
    x = torch.zeros(1, 4, 1, 8)
    with pytest.raises(RuntimeError, match="init_process_group"):
        ring_attention(x, x, x)


def test_zigzag_shard_needs_divisible_length():
    with pytest.raises(ValueError, match="divisible by 2 \\* world = 4"):
        shard(torch.zeros(1, 6, 1, 8), 0, 2, "zigzag")
    with pytest.raises(ValueError, match="layout"):
        shard(torch.zeros(1, 6, 1, 8), 0, 2, "striped")


def test_scaling_benchmark_writes_its_record(tmp_path):
    ring_bench.main(["--device", "cpu", "--worlds", "1,2", "--seqlen", "256", "--heads", "2",
                     "--head-dim", "32", "--causal", "--repeats", "1", "--out", str(tmp_path),
                     "--name", "smoke"])
    run = json.loads((tmp_path / "smoke.json").read_text())
    assert [row["world"] for row in run["rows"]] == [1, 2]
    assert run["rows"][0]["efficiency"] == 1.0 and all(r["seconds"] > 0 for r in run["rows"])


def test_band_calls_see_exactly_the_global_mask():
    # Every (query segment, key segment) call must make the kernels (windows aligned on the
    # bottom-right corner of the call) see exactly the pairs the global band allows.
    from flashattn.distributed.ring import Segment, _band

    generator = torch.Generator().manual_seed(3)

    def draw(high):
        return int(torch.randint(0, high, (1,), generator=generator))

    for _ in range(400):
        causal = draw(2) == 1
        window = (draw(12) - 2, draw(12) - 2)  # negative: unbounded
        band = _band(causal, window)
        query = Segment(draw(40), 0, 1 + draw(15))
        key = Segment(draw(40), 0, 1 + draw(15))
        call = band.call(query, key)
        for i in range(query.length):
            for j in range(key.length):
                offset = key.start + j - (query.start + i)  # global key - query
                expected = ((band.left is None or offset >= -band.left) and
                            (band.right is None or offset <= band.right))
                seen = False
                if call is not None:
                    rows, keys, (left, right) = call
                    corner = keys - rows
                    seen = (i < rows and j < keys and (left < 0 or j - i >= corner - left) and
                            (right < 0 or j - i <= corner + right))
                assert seen == expected, (causal, window, query, key, call, i, j)
