"""Benchmark cases: the standard prefill grid and decode rows of DESIGN.md §5."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Case:
    direction: str  # fwd, bwd or decode
    dtype: str
    head_dim: int
    seqlen_q: int
    seqlen_k: int
    batch: int
    heads_q: int
    heads_kv: int
    causal: bool

    def flops(self) -> float:
        """4·B·H·Sq·Sk·D, halved for causal (Sq = Sk); the backward counts 2.5×."""
        forward = 4.0 * self.batch * self.heads_q * self.seqlen_q * self.seqlen_k * self.head_dim
        forward /= 2 if self.causal else 1
        return forward * (2.5 if self.direction == "bwd" else 1.0)

    def kv_bytes(self, element_size: int) -> float:
        return 2.0 * self.batch * self.seqlen_k * self.heads_kv * self.head_dim * element_size

    def as_row(self) -> dict:
        row = asdict(self)
        return dict(dir=row.pop("direction"), dtype=row["dtype"], d=row["head_dim"],
                    s=row["seqlen_k"], sq=row["seqlen_q"], b=row["batch"], h=row["heads_q"],
                    hkv=row["heads_kv"], causal=row["causal"])


def prefill_cases(directions, dtypes, head_dims, seqlens, causals, tokens, model_width):
    """B·S = tokens and H·D = model_width, as in the standard grid."""
    for direction in directions:
        for dtype in dtypes:
            for head_dim in head_dims:
                for causal in causals:
                    for seqlen in seqlens:
                        heads = max(1, model_width // head_dim)
                        yield Case(direction, dtype, head_dim, seqlen, seqlen,
                                   max(1, tokens // seqlen), heads, heads, causal)


def decode_cases(dtypes, batches=(16,), kv_lengths=(4096, 16384, 65536)):
    """One query token against a long KV cache: 32 query / 8 KV heads, d128."""
    for dtype in dtypes:
        for batch in batches:
            for seqlen_k in kv_lengths:
                yield Case("decode", dtype, 128, 1, seqlen_k, batch, 32, 8, False)
