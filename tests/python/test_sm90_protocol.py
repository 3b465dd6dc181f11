"""The sm90 forward's synchronisation protocol, on CPU: sm90_protocol_model.py models
src/cuda/sm90/fwd_*.cuh (change them together). Random schedules of random launches must
pass; every fault the model can inject must be reported; and the model's mbarrier and deadlock
detection behave as PTX and a hung kernel do."""

import random

import pytest

from protocol_sim import Agent, MBarrier, ProtocolError, Scheduler, arrive, wait
from sm90_protocol_model import Fault, Launch, Tile, simulate

SCHEDULES = 300  # random launches, one schedule each (a stress run: the same loop, longer)
EDGE_SEEDS = 4
FAULT_SEEDS = 40


def tiles_of(consumers, *key_blocks, rows=None):
    """Tiles of these key blocks (0: empty), every row inside the sequence unless `rows` says."""
    return tuple(Tile(blocks, rows or 64 * consumers) for blocks in key_blocks)


def random_launch(rng):
    """2 or 3 consumers, O apart or (2 consumers) in the ring, three consumers with O apart also
    without overlap (the band-free d128 kernel); 1 .. 8 tiles of 1 .. 3 key blocks with a run of
    empty tiles at the head, middle or tail, or scattered, or none; some tiles with rows past the
    sequence's end or before its start (a consumer without rows stores nothing); from one CTA up
    to one tile per CTA."""
    consumers = rng.choice((2, 3))
    count = rng.randint(1, 8)
    blocks = [rng.randint(1, 3) for _ in range(count)]
    shape = rng.choice(("full", "scattered", "head", "middle", "tail"))
    if shape == "scattered":
        blocks = [0 if rng.random() < 0.4 else b for b in blocks]
    elif shape != "full":
        length = rng.randint(1, count)
        if shape == "head":
            start = 0
        elif shape == "tail":
            start = count - length
        else:
            start = rng.randint(0, count - length)
        blocks[start:start + length] = [0] * length
    full = 64 * consumers

    def tile(key_blocks):
        shape = rng.random()
        if shape < 0.6:
            return Tile(key_blocks, full)
        if shape < 0.8:
            return Tile(key_blocks, rng.randint(1, full))
        return Tile(key_blocks, full, rng.randint(0, full - 1))

    tiles = tuple(tile(b) for b in blocks)
    grid = count if rng.random() < 0.2 else rng.randint(1, min(count, 3))
    output_apart = consumers == 3 or rng.random() < 0.5
    return Launch(consumers, output_apart, grid, tiles, consumers == 2 or rng.random() < 0.5)


def test_random_schedules_pass():
    for seed in range(SCHEDULES):
        simulate(random_launch(random.Random(seed)), seed)


EDGE_TILES = {
    "empty head": (0, 0, 2, 1, 3),
    "empty middle": (2, 0, 0, 1, 2),
    "empty tail": (1, 3, 0, 0),
    "all empty": (0, 0, 0),
    "one key block each": (1, 1, 1, 1, 1),
}


# d64 (three consumers, O apart), d128 without a band (three, apart, no overlap) and under one
# (two, apart), d256 (two, O in the ring).
@pytest.mark.parametrize("consumers, output_apart, overlap",
                         ((3, True, True), (3, True, False), (2, True, True), (2, False, True)))
@pytest.mark.parametrize("pattern", EDGE_TILES)
def test_edge_launches_pass(pattern, consumers, output_apart, overlap):
    key_blocks = EDGE_TILES[pattern]
    # Rows inside the sequence for all consumers, or only the first one's.
    for rows in (None, 1):
        tiles = tiles_of(consumers, *key_blocks, rows=rows)
        # One CTA for all tiles, CTAs sharing them, one tile per CTA.
        for grid in sorted({1, 2, len(tiles)}):
            for seed in range(EDGE_SEEDS):
                simulate(Launch(consumers, output_apart, grid, tiles, overlap), seed)


# Per fault: a launch that exposes it, and what the report must name.
FAULT_CASES = [
    (Fault.PUBLISH_WITHOUT_TILE_FREE, Launch(2, True, 1, tiles_of(2, 0, 0, 0, 0, 1)), "tile_"),
    (Fault.EARLY_RING_SIGNAL, Launch(2, False, 1, tiles_of(2, 2, 1, 2)), r"writes \('O'"),
    (Fault.STORE_WITHOUT_READ_WAIT, Launch(2, True, 1, tiles_of(2, 1, 1, 1, 1)), "TMA store"),
    (Fault.STORE_WITHOUT_READ_WAIT, Launch(2, False, 1, tiles_of(2, 1, 1, 1, 1)), "TMA store"),
    (Fault.KEY_FREE_BEFORE_SCORES, Launch(3, True, 1, tiles_of(3, 3, 3)), r"key\["),
    (Fault.KEY_FREE_BEFORE_SCORES, Launch(3, True, 1, tiles_of(3, 3, 3), False), r"key\["),
    (Fault.STORE_WITHOUT_READ_WAIT, Launch(3, True, 1, tiles_of(3, 1, 1, 1, 1), False),
     "TMA store"),
    (Fault.SCORES_OVER_PENDING_P, Launch(3, True, 1, tiles_of(3, 3, 2), False), r"scores\["),
]


@pytest.mark.parametrize("fault, launch, named", FAULT_CASES,
                         ids=[f"{fault.name}-apart{launch.output_apart}-overlap{launch.overlap}"
                              for fault, launch, _ in FAULT_CASES])
def test_fault_is_reported(fault, launch, named):
    for seed in range(FAULT_SEEDS):
        simulate(launch, seed)  # without the fault the launch passes
    with pytest.raises(ProtocolError, match=named):
        for seed in range(FAULT_SEEDS):
            simulate(launch, seed, fault)


def test_mbarrier_phases_follow_ptx():
    barrier = MBarrier(Scheduler(seed=0), "barrier", 64)
    assert barrier.try_wait(1, -1, "producer")  # a fresh barrier passes the parity-1 wait
    assert not barrier.try_wait(0, 0, "consumer")
    barrier.arrive(32, 0, "warp 0", expect_bytes=16)
    barrier.arrive(32, 0, "warp 1")
    assert not barrier.try_wait(0, 0, "consumer")  # all arrived, 16 bytes still to land
    barrier.complete_transaction(16, 0, "TMA")
    assert barrier.try_wait(0, 0, "consumer") and barrier.phase == 1
    with pytest.raises(ProtocolError, match="for phase 2 in phase 1"):
        barrier.arrive(32, 2, "warp 0")
    barrier.arrive(64, 1, "warpgroup")
    with pytest.raises(ProtocolError, match="blocks in phase 2"):
        barrier.try_wait(0, 0, "consumer")  # slept through two phases: its parity is back


def test_deadlock_is_reported():
    scheduler = Scheduler(seed=0)
    first, second = MBarrier(scheduler, "first", 1), MBarrier(scheduler, "second", 1)

    def waits_then_arrives(waited, arrived, who):
        yield from wait(waited, 0, 0, who)
        yield from arrive(arrived, 1, 0, who)

    scheduler.start(Agent("one", waits_then_arrives(first, second, "one")))
    scheduler.start(Agent("other", waits_then_arrives(second, first, "other")))
    with pytest.raises(ProtocolError, match="deadlock: 2 agents wait"):
        scheduler.run()
