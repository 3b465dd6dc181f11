"""Ring attention: exact attention over a sequence sharded across the ranks of a process group.

Each rank holds a shard of q, k, v ([B, S_local, H, D]). K and V travel once around the ring
(torch.distributed point-to-point, the next block in flight while the current one is
computed); every (query segment, key segment) pair runs the local kernels with the global mask
translated to it, and the partial outputs merge exactly through their log-sum-exp. The
backward walks the ring again with the merged output and LSE, carrying dK and dV along with K
and V until they are back home.

Layouts of the global sequence over W ranks:
  "contiguous": rank r holds rows [offset_r, offset_r + S_r) (shard lengths may differ).
  "zigzag": the sequence is cut into 2W chunks; rank r holds chunks r and 2W - 1 - r (each half
    of its shard), which balances causal work. `shard()` cuts tensors this way.
Queries and keys are the same sequence (self-attention): causal is aligned on the diagonal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist

from ..interface import _check_unbuilt_features
from ..ops import backward_op, forward_op

LAYOUTS = ("contiguous", "zigzag")


@dataclass(frozen=True)
class Segment:
    """Rows [local, local + length) of a shard are global rows [start, start + length)."""

    start: int
    local: int
    length: int


def _segments(lengths: list[int], layout: str) -> list[list[Segment]]:
    """The segments of every rank's shard, from all shard lengths."""
    world = len(lengths)
    if layout == "contiguous":
        starts = [sum(lengths[:rank]) for rank in range(world)]
        return [[Segment(starts[rank], 0, lengths[rank])] for rank in range(world)]
    halves = [length // 2 for length in lengths]
    chunk_owner = list(range(world)) + list(reversed(range(world)))
    starts, position = [], 0
    for owner in chunk_owner:
        starts.append(position)
        position += halves[owner]
    return [[Segment(starts[rank], 0, halves[rank]),
             Segment(starts[2 * world - 1 - rank], halves[rank], halves[rank])]
            for rank in range(world)]


def shard(x: torch.Tensor, rank: int, world: int, layout: str = "contiguous") -> torch.Tensor:
    """This rank's shard of a full [B, S, ...] tensor (zigzag needs S divisible by 2 world)."""
    _check_layout(layout)
    length = x.shape[1]
    if layout == "contiguous":
        bounds = [length * r // world for r in range(world + 1)]
        return x[:, bounds[rank]:bounds[rank + 1]]
    if length % (2 * world) != 0:
        raise ValueError(f"x: the zigzag layout needs a sequence length divisible by "
                         f"2 * world = {2 * world}, got {length}")
    chunks = x.chunk(2 * world, dim=1)
    return torch.cat([chunks[rank], chunks[2 * world - 1 - rank]], dim=1)


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")


@dataclass(frozen=True)
class _Band:
    """Key j of the global sequence is visible from query i iff i - left <= j <= i + right
    (None: unbounded on that side)."""

    left: Optional[int]
    right: Optional[int]

    def call(self, query: Segment, key: Segment):
        """The sub-block [0, rows) x [0, keys) of (query, key) the kernels must see and its local
        window, or None when no pair of it is visible. The kernels align windows on the
        bottom-right corner of their call, so the block is cut until that corner lies in the
        band; the cut-off rows and keys see nothing of this key segment."""
        offset = query.start - key.start  # local j - i of the global diagonal
        rows, keys = query.length, key.length
        if self.right is not None and keys - rows > offset + self.right:
            keys = rows + offset + self.right  # keys right of the last query's band
        if self.left is not None and keys - rows < offset - self.left:
            rows = keys - offset + self.left  # queries whose band starts past the last key
        if rows <= 0 or keys <= 0:
            return None  # otherwise the corner (rows - 1, keys - 1) is itself visible
        corner = keys - rows
        left = -1 if self.left is None else corner - (offset - self.left)
        right = -1 if self.right is None else (offset + self.right) - corner
        return rows, keys, (left, right)


def _band(causal: bool, window: tuple[int, int]) -> _Band:
    left, right = window
    if causal:
        right = 0  # as in flash-attn, causal overrides the right edge of the window
    return _Band(None if left < 0 else left, None if right < 0 else right)


class _Ring:
    """Point-to-point exchange with the ring neighbours of a process group."""

    def __init__(self, group):
        self.group = group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        self.next = dist.get_global_rank(group, (self.rank + 1) % self.world)
        self.previous = dist.get_global_rank(group, (self.rank - 1) % self.world)

    def start(self, tensors: list[torch.Tensor], incoming_length: int):
        """Sends `tensors` ([B, S, ...]) to the next rank and receives tensors of
        `incoming_length` rows from the previous one (shards may differ in length); returns
        (received buffers, requests). Nothing moves with one rank."""
        if self.world == 1:
            return tensors, []
        received = [t.new_empty((t.shape[0], incoming_length, *t.shape[2:])) for t in tensors]
        # One batch: NCCL would deadlock on a ring of separate blocking sends.
        operations = []
        for tensor, buffer in zip(tensors, received):
            operations.append(dist.P2POp(dist.isend, tensor.contiguous(), self.next, self.group))
            operations.append(dist.P2POp(dist.irecv, buffer, self.previous, self.group))
        return received, dist.batch_isend_irecv(operations)

    @staticmethod
    def finish(requests) -> None:
        for request in requests:
            request.wait()


def _merge(out, lse, part_out, part_lse, rows):
    """Folds a partial result for query rows [0, rows) into (out fp32, lse with -inf = empty)."""
    part_lse = part_lse.float().masked_fill(torch.isinf(part_lse), -math.inf)
    current = lse[:, :, :rows]
    merged = torch.logaddexp(current, part_lse)
    safe = torch.where(torch.isinf(merged), torch.zeros_like(merged), merged)
    weight_old = torch.exp(current - safe).transpose(1, 2).unsqueeze(-1)
    weight_new = torch.exp(part_lse - safe).transpose(1, 2).unsqueeze(-1)
    out[:, :rows] = out[:, :rows] * weight_old + part_out.float() * weight_new
    lse[:, :, :rows] = merged


def _pairs(ring, segments, source, band):
    """(query segment, key segment, call) for every visible pair of this rank's queries against
    the keys of rank `source`."""
    for query in segments[ring.rank]:
        for key in segments[source]:
            call = band.call(query, key)
            if call is not None:
                yield query, key, call


def _length(segments, rank: int) -> int:
    """Rows of the shard of `rank` (taken modulo the world size)."""
    return sum(segment.length for segment in segments[rank % len(segments)])


def _rows(x: torch.Tensor, segment: Segment, count: Optional[int] = None, dim: int = 1):
    count = segment.length if count is None else count
    return x.narrow(dim, segment.local, count)


class _RingAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, group, scale, band, softcap, segments, deterministic):
        ring = _Ring(group)
        out = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
        lse = torch.full((q.shape[0], q.shape[2], q.shape[1]), -math.inf, device=q.device)
        keys, values = k.contiguous(), v.contiguous()
        for step in range(ring.world):
            source = (ring.rank - step) % ring.world
            if step + 1 < ring.world:
                (next_keys, next_values), requests = ring.start(
                    [keys, values], _length(segments, source - 1))
            for query, key, (rows, count, window) in _pairs(ring, segments, source, band):
                part_out, part_lse = forward_op(
                    _rows(q, query, rows), _rows(keys, key, count), _rows(values, key, count),
                    scale, False, window[0], window[1], softcap, deterministic)
                for_query = out.narrow(1, query.local, query.length)
                lse_query = lse.narrow(2, query.local, query.length)
                _merge(for_query, lse_query, part_out, part_lse, rows)
            if step + 1 < ring.world:
                ring.finish(requests)
                keys, values = next_keys, next_values
        lse = lse.masked_fill(torch.isneginf(lse), math.inf)  # the kernels' empty-row convention
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.options = (group, scale, band, softcap, segments, deterministic)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, _dlse):
        q, k, v, out, lse = ctx.saved_tensors
        group, scale, band, softcap, segments, deterministic = ctx.options
        ring = _Ring(group)
        dout = dout.contiguous()
        dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
        keys, values = k.contiguous(), v.contiguous()
        key_grad = torch.zeros(k.shape, dtype=torch.float32, device=k.device)
        value_grad = torch.zeros(v.shape, dtype=torch.float32, device=v.device)
        for step in range(ring.world):
            source = (ring.rank - step) % ring.world
            incoming = _length(segments, source - 1)  # the keys (and gradients) held next
            if step + 1 < ring.world:
                (next_keys, next_values), requests = ring.start([keys, values], incoming)
            for query, key, (rows, count, window) in _pairs(ring, segments, source, band):
                part_dq, part_dk, part_dv = backward_op(
                    _rows(dout, query, rows), _rows(q, query, rows), _rows(keys, key, count),
                    _rows(values, key, count), _rows(out, query, rows),
                    _rows(lse, query, rows, dim=2), scale, False, window[0], window[1],
                    softcap, deterministic)
                _rows(dq, query, rows).add_(part_dq.float())
                _rows(key_grad, key, count).add_(part_dk.float())
                _rows(value_grad, key, count).add_(part_dv.float())
            # dK and dV of the keys held now travel on with them; after the last step one more
            # hop brings every rank's gradients home.
            (key_grad, value_grad), grad_requests = ring.start([key_grad, value_grad], incoming)
            if step + 1 < ring.world:
                ring.finish(requests)
                keys, values = next_keys, next_values
            ring.finish(grad_requests)
        return (dq.to(q.dtype), key_grad.to(k.dtype), value_grad.to(v.dtype),
                None, None, None, None, None, None)


def ring_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, group=None,
                   scale: Optional[float] = None, causal: bool = False,
                   window: tuple[int, int] = (-1, -1), softcap: float = 0.0,
                   layout: str = "contiguous", deterministic: bool = False,
                   return_lse: bool = False):
    """Attention of this rank's query shard against the whole sharded sequence.

    q [B, S_local, Hq, D], k/v [B, S_local, Hkv, D] on every rank of `group` (default: the world
    group), the same layout on all ranks; any backend of flashattn (CPU tensors with Gloo, CUDA
    tensors with NCCL). Returns this rank's shard of the output ([B, S_local, Hq, D]), and its
    LSE [B, Hq, S_local] with return_lse; differentiable in q, k, v.
    """
    _check_layout(layout)
    if not dist.is_initialized():
        raise RuntimeError("ring_attention: torch.distributed is not initialised "
                           "(call torch.distributed.init_process_group first)")
    group = group if group is not None else dist.group.WORLD
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if tensor.dim() != 4:
            raise ValueError(f"{name}: expected [batch, seqlen, heads, head_dim], got shape "
                             f"{list(tensor.shape)}")
    if k.shape[1] != q.shape[1] or v.shape[1] != q.shape[1]:
        raise ValueError(f"k: every shard holds the same rows of q, k and v; got lengths "
                         f"{q.shape[1]}, {k.shape[1]}, {v.shape[1]}")
    if layout == "zigzag" and q.shape[1] % 2 != 0:
        raise ValueError(f"q: the zigzag layout needs an even shard length, got {q.shape[1]}")
    length = torch.tensor([q.shape[1]], dtype=torch.int64,
                          device=q.device if q.is_cuda else "cpu")
    lengths = [torch.zeros_like(length) for _ in range(dist.get_world_size(group))]
    dist.all_gather(lengths, length, group=group)
    segments = _segments([int(x.item()) for x in lengths], layout)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    out, lse = _RingAttention.apply(q, k, v, group, scale, _band(causal, window), float(softcap),
                                    segments, bool(deterministic))
    return (out, lse) if return_lse else out


def ring_flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False,
                         window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                         deterministic=False, return_attn_probs=False, group=None,
                         layout="contiguous"):
    """flash_attn_func's signature over a sharded sequence (see ring_attention)."""
    _check_unbuilt_features(dropout_p, alibi_slopes)
    out, lse = ring_attention(q, k, v, group=group, scale=softmax_scale, causal=causal,
                              window=window_size, softcap=softcap, layout=layout,
                              deterministic=deterministic, return_lse=True)
    return (out, lse, None) if return_attn_probs else out
