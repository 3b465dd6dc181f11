"""How evenly the sm90 forward's persistent grid spreads the DESIGN.md §5 grid's tiles: for each
row, total key blocks / (SMs x the busiest SM's key blocks) when the tiles go in the kernel's
order (each head's row blocks heaviest first, head after head) to whichever CTA is free (what
the tile counter does), tile shapes as fwd_config.h has them and rows aligned to the sequence
end. Per-tile fixed costs are left out. 1.0 means no last-wave loss.
Usage: python scripts/wave_efficiency.py [multiprocessors (default 132)]"""

import heapq
import math
import sys

TOKENS, MODEL_WIDTH = 16384, 2048
SEQLENS = (1024, 2048, 4096, 8192, 16384)


def tile_shape(head_dim: int, causal: bool, seqlen: int) -> tuple[int, int]:
    """(rows, keys) per tile of the kernel run_forward picks for this row of the grid."""
    if head_dim == 64:
        return 192, 128
    if head_dim == 128:
        two_consumers = causal or seqlen <= 1024
        return (128, 128) if two_consumers else (192, 128)
    return 128, 80


def tile_work(head_dim: int, causal: bool, seqlen: int) -> list[int]:
    """Key blocks each tile walks, in tile-number order."""
    rows, keys = tile_shape(head_dim, causal, seqlen)
    heads_and_batches = (TOKENS // seqlen) * (MODEL_WIDTH // head_dim)
    row_blocks = math.ceil(seqlen / rows)
    per_head = []
    for block in range(row_blocks):
        end_row = seqlen - block * rows  # blocks aligned to the sequence end
        visible_keys = end_row if causal else seqlen
        per_head.append(math.ceil(visible_keys / keys))
    return per_head * heads_and_batches


def efficiency(work: list[int], multiprocessors: int) -> float:
    finish = [0] * multiprocessors
    for blocks in work:
        heapq.heappush(finish, heapq.heappop(finish) + blocks)
    return sum(work) / (multiprocessors * max(finish))


def main() -> None:
    multiprocessors = int(sys.argv[1]) if len(sys.argv) > 1 else 132
    print(f"{'d':>4} {'causal':>6} " + " ".join(f"{s:>6}" for s in SEQLENS))
    for head_dim in (64, 128, 256):
        for causal in (False, True):
            cells = [efficiency(tile_work(head_dim, causal, s), multiprocessors) for s in SEQLENS]
            print(f"{head_dim:>4} {str(causal):>6} " + " ".join(f"{c:6.3f}" for c in cells))


if __name__ == "__main__":
    main()
