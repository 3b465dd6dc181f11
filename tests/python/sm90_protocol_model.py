"""Model of the sm90 forward kernel's synchronisation protocol (src/cuda/sm90/fwd_*.cuh).

CI has no GPU, so test_sm90_protocol.py runs this model under random interleavings instead: a
change to the kernel's barriers, buffer reuse or tile hand-over that breaks the protocol fails
there. Whoever changes those files updates the part here that mirrors what changed:

- protocol_sim.py: MBarrier, an mbarrier as PTX defines it (ptx/mbarrier.cuh); NamedBarrier,
  bar.sync and bar.arrive with a thread count (ptx/named_barrier.cuh); Buffer, a region of
  ForwardSmem tagged with the data it holds; Reads, a wgmma group's operands or a TMA store's
  source, read from issue until waited for; Scheduler, the interleaving, and the asynchronous
  engine, in which a TMA load (load_tile) lands and a TMA store (store_output) reads its rows at
  a random later step.
- Cta: ForwardSmem and forward_kernel's mbarrier_init; Cta.produce: produce(); TileQueue,
  RingPosition, GemmTurns: the kernel's structs of those names; Cta.consume: consume();
  Cta.consume_tile: consume_tile() with issue_query_key, issue_probability_value,
  release_key, release_value and RingStaging, with and without overlap (Launch.overlap);
  Cta.store_output: store_output(). Simulation: the grid, whose CTAs share one tile counter
  (TileQueue::take), and the checks of the outcome. Fault: deliberate faults, one flag each, for
  the tests that show the checks catch them.

Agents are the producer thread and one per consumer warp (a warp's lanes run together; the warp
of the thread that issues the TMA store waits for its reads with it); each step is one PTX-level
action. Reported as ProtocolError: a wait that passes, or an arrival or transaction that lands,
in another phase (named barriers: generation) than the agent's own counters say, which is what
aliased parity arithmetic does; a read of data other than the expected (not landed, already
overwritten, or from another tile's hand-over); a write or TMA load into a region while it is
read or loaded; a deadlock; at the end, a barrier left mid-phase, a tile not taken by exactly one
CTA, or rows not stored exactly once. Not modelled: registers (wgmma_fence, the C7520 reasons;
but for the no-overlap kernel's S registers, which hold P while the P V reads it),
memory ordering (shared memory is sequentially consistent here: the fences are taken as given),
global memory other than which rows are stored.
"""

import enum
from dataclasses import dataclass

from protocol_sim import (WARP_THREADS, Agent, Buffer, BulkGroup, MBarrier, NamedBarrier,
                          ProtocolError, Reads, Scheduler, arrive, bar_sync,
                          bulk_wait_group_read, wait, wgmma_wait)

STAGES = 2  # kStages: the K/V ring
TILE_SLOTS = 2  # kTileSlots
WARPGROUP_THREADS = 128
WARPGROUP_WARPS = WARPGROUP_THREADS // WARP_THREADS
CONSUMER_ROWS = 64  # query rows per consumer warpgroup
NAMED_BARRIERS = 16  # a CTA's: 0 (__syncthreads) .. 15
TURN_BARRIER = 1  # GemmTurns::kFirstBarrier
TURN_THREADS = 256  # GemmTurns::kThreads: the waiting and the arriving warpgroup
LOAD_BYTES = 1  # a load_tile's expected bytes: only whether all of them have landed matters

class Fault(enum.Enum):
    """Faults the model can inject, so that the tests can show each one is reported."""

    PUBLISH_WITHOUT_TILE_FREE = "publish() hands a tile over without waiting for tile_free"
    EARLY_RING_SIGNAL = ("a consumer signals that it no longer reads its last K before that S "
                         "has landed (O is staged there)")
    STORE_WITHOUT_READ_WAIT = "store_output() returns before the TMA store has read its rows"
    KEY_FREE_BEFORE_SCORES = "K released before the S that reads it has landed"
    SCORES_OVER_PENDING_P = ("without overlap, the next S is issued before the P V that reads P "
                             "from S's registers has been waited for")


@dataclass(frozen=True)
class Tile:
    key_blocks: int  # 0: an empty tile (no row sees a key: nothing is loaded or stored)
    rows: int  # block.rows: the tile's rows end there, 1 .. 64 * consumers
    first_valid_row: int = 0  # block.first_valid_row: rows before it lie before the sequence

    def stages(self, consumer):
        """store_output() through shared memory (and TMA if some rows lie in the sequence): the
        consumer's 64 rows do not start before the sequence."""
        return self.first_valid_row <= CONSUMER_ROWS * consumer

    def stores_staged(self, consumer):
        return self.stages(consumer) and CONSUMER_ROWS * consumer < self.rows

    def stores_directly(self, consumer):
        """store_output() from registers: the consumer's rows start before the sequence (a TMA
        store box cannot) and some lie in it."""
        first = CONSUMER_ROWS * consumer
        return first < self.first_valid_row < first + CONSUMER_ROWS

    def stores(self, consumer):
        return self.stores_staged(consumer) or self.stores_directly(consumer)


@dataclass(frozen=True)
class Launch:
    consumers: int  # kConsumers: 3 at d64 and d128 without a band, else 2
    output_apart: bool  # kOutputApart: O staged in its own buffer (d64, d128), else in the
    # tile's last K/V stage (kOutputInRing, d256: two consumers only)
    grid: int  # CTAs: min(tiles, multiprocessors)
    tiles: tuple[Tile, ...]
    # kOverlapInWarpgroup: the next S issued with the P V (all but d128 without a band), else
    # S, softmax, P V in turn per key block
    overlap: bool = True

    def __post_init__(self):
        if not self.output_apart and self.consumers != 2:
            raise ValueError("staging O in the ring takes two consumers, one half each")
        if not self.overlap and not self.output_apart:
            raise ValueError("without overlap (d128) O is staged apart")
        if not 1 <= self.grid <= len(self.tiles):
            raise ValueError(f"grid {self.grid} for {len(self.tiles)} tiles: the launch takes "
                             "min(tiles, multiprocessors)")


class RingPosition:
    """RingPosition: use `uses` of the K/V ring is stage uses % kStages, phase uses // kStages."""

    def __init__(self, uses=0):
        self.uses = uses

    def stage(self):
        return self.uses % STAGES

    def parity(self):  # as the kernel computes it; the model checks it against phase()
        return (self.uses // STAGES) & 1

    def phase(self):
        return self.uses // STAGES

    def advance(self):
        self.uses += 1


class TileQueue:
    """TileQueue: hand-over `uses` goes through slot uses % kTileSlots, phase uses // kTileSlots.
    Each agent keeps its own copy, as each thread does."""

    def __init__(self, cta, who):
        self.cta = cta
        self.who = who
        self.uses = 0

    def slot(self):
        return self.uses % TILE_SLOTS

    def parity(self):
        return (self.uses // TILE_SLOTS) & 1

    def phase(self):
        return self.uses // TILE_SLOTS

    def take(self):
        """atomicAdd on the workspace's counter: tiles grid, grid + 1, ..., then `tiles`."""
        simulation = self.cta.simulation
        tile = simulation.launch.grid + simulation.counter
        simulation.counter += 1
        return min(tile, len(simulation.launch.tiles))

    def publish(self, tile):
        cta, slot = self.cta, self.slot()
        if cta.simulation.fault is not Fault.PUBLISH_WITHOUT_TILE_FREE:
            yield from wait(cta.tile_free[slot], self.parity() ^ 1, self.phase() - 1, self.who)
        cta.tile_slots[slot] = (self.uses, tile)  # tagged with the hand-over it is written for
        yield
        yield from arrive(cta.tile_full[slot], 1, self.phase(), self.who)
        self.uses += 1

    def receive(self):
        cta, slot = self.cta, self.slot()
        yield from wait(cta.tile_full[slot], self.parity(), self.phase(), self.who)
        use, tile = cta.tile_slots[slot]
        if use != self.uses:
            raise ProtocolError(f"{self.who} reads {cta.prefix}tile_slots[{slot}] for hand-over "
                                f"{self.uses}; it holds hand-over {use}'s")
        yield
        yield from arrive(cta.tile_free[slot], WARP_THREADS, self.phase(), self.who)
        self.uses += 1
        return tile


class GemmTurns:
    """GemmTurns: consumer c's t-th turn (counted over the CTA's run) waits on generation t of
    barrier 1 + c; its end opens consumer c + 1's t-th turn, or, from the last consumer, consumer
    0's turn t + 1 (generation 0 of barrier 1 is the arrival made up front)."""

    def __init__(self, cta, consumer, who):
        self.cta = cta
        self.consumers = cta.simulation.launch.consumers
        self.barrier = TURN_BARRIER + consumer
        self.who = who
        self.turns = 0

    def open(self):
        """The constructor's arrival, by the last consumer."""
        if self.barrier == TURN_BARRIER + self.consumers - 1:
            yield from arrive(self.cta.named_barriers[TURN_BARRIER], TURN_THREADS, 0, self.who)

    def begin(self):
        yield from bar_sync(self.cta.named_barriers[self.barrier], TURN_THREADS, self.turns,
                            self.who)

    def end(self):
        wraps = self.barrier == TURN_BARRIER + self.consumers - 1
        successor = TURN_BARRIER if wraps else self.barrier + 1
        yield from arrive(self.cta.named_barriers[successor], TURN_THREADS,
                          self.turns + 1 if wraps else self.turns, self.who)
        self.turns += 1

    def finish(self):
        if self.barrier == TURN_BARRIER:
            yield from self.begin()


class RingStaging:
    """RingStaging (no staging buffer, d256): consumer c stages its O in half c of the tile's last
    K/V stage (0: K, 1: V) and holds back its release of that stage until the TMA store has read
    it; the other consumer signals on the half's named barrier once its last wgmma reading it has
    finished. One use of each barrier per non-empty tile: `generation` counts them."""

    def __init__(self, cta, consumer, generation, who):
        self.cta = cta
        self.consumer = consumer
        self.generation = generation
        self.who = who
        self.active = not cta.launch.output_apart

    def holds_key(self, last):
        return self.active and last and self.consumer == 0

    def holds_value(self, last):
        return self.active and last and self.consumer == 1

    def keys_read(self, last):
        if self.active and last and self.consumer == 1:
            yield from arrive(self.cta.named_barriers[self.cta.ring_barrier], TURN_THREADS,
                              self.generation, self.who)

    def values_read(self, last):
        if self.active and last and self.consumer == 0:
            yield from arrive(self.cta.named_barriers[self.cta.ring_barrier + 1], TURN_THREADS,
                              self.generation, self.who)

    def acquire(self):
        yield from bar_sync(self.cta.named_barriers[self.cta.ring_barrier + self.consumer],
                            TURN_THREADS, self.generation, self.who)

    def release(self, warp, behind):
        """The warpgroup meets once more (behind its storing thread's wait for the store's
        reads), then its warps give back the stage they held."""
        cta = self.cta
        generation = cta.epilogue_syncs[self.consumer][warp]
        cta.epilogue_syncs[self.consumer][warp] += 1
        yield from bar_sync(cta.named_barriers[cta.epilogue_barrier + self.consumer],
                            WARPGROUP_THREADS, generation, self.who)
        held = (cta.key_free if self.consumer == 0 else cta.value_free)[behind.stage()]
        yield from arrive(held, WARP_THREADS, behind.phase(), self.who)


class Cta:
    """One CTA: ForwardSmem with its barriers initialised as forward_kernel does, and its agents."""

    def __init__(self, simulation, index):
        launch = simulation.launch
        self.simulation = simulation
        self.launch = launch
        self.prefix = f"cta{index}."  # of its barriers', buffers' and agents' names
        self.index = index
        self.mbarriers = []

        def mbarrier(name, arrivals):
            barrier = MBarrier(simulation.scheduler, self.prefix + name, arrivals)
            self.mbarriers.append(barrier)
            return barrier

        consumer_threads = WARPGROUP_THREADS * launch.consumers
        self.query_full = mbarrier("query_full", 1)
        self.query_free = mbarrier("query_free", consumer_threads)
        self.key_full = [mbarrier(f"key_full[{stage}]", 1) for stage in range(STAGES)]
        self.value_full = [mbarrier(f"value_full[{stage}]", 1) for stage in range(STAGES)]
        self.key_free = [mbarrier(f"key_free[{stage}]", consumer_threads)
                         for stage in range(STAGES)]
        self.value_free = [mbarrier(f"value_free[{stage}]", consumer_threads)
                           for stage in range(STAGES)]
        self.tile_full = [mbarrier(f"tile_full[{slot}]", 1) for slot in range(TILE_SLOTS)]
        self.tile_free = [mbarrier(f"tile_free[{slot}]", consumer_threads)
                          for slot in range(TILE_SLOTS)]
        self.tile_slots = [None] * TILE_SLOTS
        self.named_barriers = [NamedBarrier(simulation.scheduler, f"{self.prefix}barrier {number}")
                               for number in range(NAMED_BARRIERS)]
        # store_output's barrier per consumer: kEpilogueBarrier + consumer.
        self.epilogue_barrier = TURN_BARRIER + launch.consumers
        # [consumer][warp]: the warp's epilogue barrier syncs so far (its generation)
        self.epilogue_syncs = [[0] * WARPGROUP_WARPS for _ in range(launch.consumers)]

        # [consumer][warp]: a consumer's 64 rows, per warp's 16. Each warp writes its own O
        # rows, but its wgmmas read all of its warpgroup's Q, and the TMA store all of its O.
        def rows(what):
            return [[Buffer(f"{self.prefix}{what}[{consumer}][{warp}]")
                     for warp in range(WARPGROUP_WARPS)] for consumer in range(launch.consumers)]

        self.query = rows("query")
        # [stage][warp]: a K or V stage in four parts, one per warp of a consumer that stages
        # its O rows there (RingStaging); a load or a wgmma takes all four.
        def stages(what):
            return [[Buffer(f"{self.prefix}{what}[{stage}][{warp}]")
                     for warp in range(WARPGROUP_WARPS)] for stage in range(STAGES)]

        self.keys = stages("key")
        self.values = stages("value")
        self.output = rows("output") if launch.output_apart else None
        # Without overlap: each warp's S accumulators, which also hold its packed P (registers,
        # not shared memory, but a wgmma reads them the same way: from issue until waited for).
        self.score_registers = rows("scores") if not launch.overlap else None
        # RingStaging::kFirstBarrier + half (0: K, consumer 0's O; 1: V, consumer 1's)
        self.ring_barrier = self.epilogue_barrier + launch.consumers
        # Per consumer, its last TMA store of O staged apart, until wait_for_output_store.
        self.unread_store = [None] * launch.consumers

        self.agents = [Agent(self.prefix + "producer", self.produce(self.prefix + "producer"))]
        for consumer in range(launch.consumers):
            for warp in range(WARPGROUP_WARPS):
                who = f"{self.prefix}consumer {consumer} warp {warp}"
                self.agents.append(Agent(who, self.consume(consumer, warp, who)))

    # --- The producer thread.

    def produce(self, who):
        """produce(): hands each tile over, then loads its Q and its key blocks, last first."""
        tiles = self.launch.tiles
        queue = TileQueue(self, who)
        ring = RingPosition()
        queries = 0  # Q loads so far: one per non-empty tile
        tile = self.index  # blockIdx.x
        while True:
            yield from queue.publish(tile)
            if tile >= len(tiles):
                return
            block = tiles[tile]
            if block.key_blocks == 0:  # block.empty(): nothing to load
                tile = queue.take()
                yield
                continue
            yield from self.load_query(tile, queries, who)
            queries += 1
            for n in range(block.key_blocks - 1, -1, -1):
                yield from self.load_key_block(ring, tile, n, who)
            tile = queue.take()
            yield

    def load_query(self, tile, queries, who):
        yield from wait(self.query_free, (queries & 1) ^ 1, queries - 1, who)
        yield from self.load_tile([buffer for rows in self.query for buffer in rows], ("Q", tile),
                                  self.query_full, queries, who)

    def load_key_block(self, ring, tile, n, who):
        stage = ring.stage()
        yield from wait(self.key_free[stage], ring.parity() ^ 1, ring.phase() - 1, who)
        yield from self.load_tile(self.keys[stage], ("K", tile, n), self.key_full[stage],
                                  ring.phase(), who)
        yield from wait(self.value_free[stage], ring.parity() ^ 1, ring.phase() - 1, who)
        yield from self.load_tile(self.values[stage], ("V", tile, n), self.value_full[stage],
                                  ring.phase(), who)
        ring.advance()

    def load_tile(self, buffers, tag, barrier, phase, who):
        """load_tile: arrive.expect_tx on `barrier`, then the TMA copies, which land later (its
        kColumnBlocks copies as one: the readers wait for the whole phase anyway)."""
        barrier.arrive(1, phase, who, expect_bytes=LOAD_BYTES)
        for buffer in buffers:
            buffer.load(tag, who)

        def land():
            for buffer in buffers:
                buffer.land()
            barrier.complete_transaction(LOAD_BYTES, phase, f"the TMA load of {tag}")

        self.simulation.scheduler.issue(land)
        yield

    # --- A consumer warp.

    def consume(self, consumer, warp, who):
        """consume(): every tile of the CTA, in the producer's order."""
        turns = GemmTurns(self, consumer, who)
        yield from turns.open()
        queue = TileQueue(self, who)
        ring = RingPosition()
        queries = 0  # the CTA's non-empty tiles so far: the phase of their Q
        while True:
            tile = yield from queue.receive()
            if tile >= len(self.launch.tiles):
                break
            self.simulation.taken[tile].append(self.index)
            block = self.launch.tiles[tile]
            if block.key_blocks == 0:  # write_empty_rows: global memory only
                continue
            yield from self.consume_tile(tile, block, consumer, warp, turns, ring, queries, who)
            queries += 1
        yield from self.wait_for_output_store(consumer, warp)
        yield from turns.finish()

    def consume_tile(self, tile, block, consumer, warp, turns, ring, queries, who):
        """consume_tile(): key blocks n = key_blocks - 1 .. 0; with overlap S of block n - 1 is
        issued with the P V of block n, else each block's S, then its P V. Q goes back once the
        last S (block 0's) has landed."""
        staging = RingStaging(self, consumer, queries, who)

        def release_query_after_scores(n):
            if n == 0:
                yield from arrive(self.query_free, WARP_THREADS, queries, who)

        yield from wait(self.query_full, queries & 1, queries, who)
        if not self.launch.overlap:
            registers = self.score_registers[consumer][warp]
            late = self.simulation.fault is Fault.SCORES_OVER_PENDING_P
            pending = None  # with the fault: the P V not yet waited for
            for n in reversed(range(block.key_blocks)):
                last = n == 0
                yield from turns.begin()
                scores = yield from self.issue_query_key(consumer, ring, tile, n, who)
                registers.write(("S", tile, n), who)  # the wgmma's accumulators
                yield from turns.end()
                if pending:
                    yield from self.release_value(*pending, staging, False, who)
                    pending = None
                yield from self.land_scores(scores, ring, staging, last, who)
                yield from release_query_after_scores(n)
                registers.write(("P", tile, n), who)  # softmax, P packed in place
                if last:
                    yield from self.wait_for_output_store(consumer, warp)  # the previous tile's
                    yield from turns.begin()
                at = RingPosition(ring.uses)
                product = yield from self.issue_probability_value(
                    at, tile, n, who, [(registers, ("P", tile, n))])
                if last:
                    yield from turns.end()
                if late and not last:
                    pending = (product, at)
                else:
                    yield from self.release_value(product, at, staging, last, who)
                ring.advance()
            yield from self.store_output(tile, block, consumer, warp, self.output[consumer], who)
            return
        n = block.key_blocks - 1
        yield from turns.begin()
        scores = yield from self.issue_query_key(consumer, ring, tile, n, who)
        yield from turns.end()
        yield from self.land_scores(scores, ring, staging, n == 0, who)  # wgmma_wait<0>
        ring.advance()
        yield from release_query_after_scores(n)
        while n > 0:
            yield from turns.begin()
            scores = yield from self.issue_query_key(consumer, ring, tile, n - 1, who)
            behind = RingPosition(ring.uses - 1)  # the P V reads V one block behind the S's K
            product = yield from self.issue_probability_value(behind, tile, n, who)
            yield from turns.end()
            # wgmma_wait<1>: S was committed first
            yield from self.land_scores(scores, ring, staging, n - 1 == 0, who)
            yield from release_query_after_scores(n - 1)
            n -= 1
            yield from self.release_value(product, behind, staging, False, who)
            ring.advance()
        yield from self.wait_for_output_store(consumer, warp)  # the previous tile's
        yield from turns.begin()
        behind = RingPosition(ring.uses - 1)
        product = yield from self.issue_probability_value(behind, tile, 0, who)
        yield from turns.end()
        yield from self.release_value(product, behind, staging, True, who)
        if self.launch.output_apart:
            yield from self.store_output(tile, block, consumer, warp, self.output[consumer], who)
        else:
            yield from staging.acquire()
            rows = (self.keys if consumer == 0 else self.values)[behind.stage()]
            yield from self.store_output(tile, block, consumer, warp, rows, who)
            yield from staging.release(warp, behind)

    def issue_query_key(self, consumer, ring, tile, n, who):
        """issue_query_key: once K has landed, S = Q Kᵀ reads Q and K until waited for."""
        stage = ring.stage()
        yield from wait(self.key_full[stage], ring.parity(), ring.phase(), who)
        scores = Reads(who, [(buffer, ("Q", tile)) for buffer in self.query[consumer]]
                       + [(buffer, ("K", tile, n)) for buffer in self.keys[stage]])
        yield
        return scores

    def land_scores(self, scores, ring, staging, last, who):
        """wgmma_wait for the S, then release_key: K's stage goes back to the producer, unless O
        is staged there after the tile's `last` block (RingStaging)."""
        early = self.simulation.fault is Fault.KEY_FREE_BEFORE_SCORES
        early_signal = self.simulation.fault is Fault.EARLY_RING_SIGNAL
        if early_signal:
            yield from staging.keys_read(last)
        if not early:
            yield from wgmma_wait(scores)
        if not staging.holds_key(last):
            yield from arrive(self.key_free[ring.stage()], WARP_THREADS, ring.phase(), who)
        if early:
            yield from wgmma_wait(scores)
        if not early_signal:
            yield from staging.keys_read(last)

    def issue_probability_value(self, behind, tile, n, who, registers=()):
        """issue_probability_value: once V has landed, O += P V reads it (and P's `registers`,
        where they are modelled) until waited for."""
        stage = behind.stage()
        yield from wait(self.value_full[stage], behind.parity(), behind.phase(), who)
        product = Reads(who, [(buffer, ("V", tile, n)) for buffer in self.values[stage]]
                        + list(registers))
        yield
        return product

    def release_value(self, product, behind, staging, last, who):
        """release_value: wgmma_wait<0>, then V's stage goes back to the producer (as K's in
        land_scores)."""
        yield from wgmma_wait(product)
        if not staging.holds_value(last):
            yield from arrive(self.value_free[behind.stage()], WARP_THREADS, behind.phase(), who)
        yield from staging.values_read(last)

    def store_output(self, tile, block, consumer, warp, rows, who):
        """store_output(): the warp writes its O rows into the staging rows, the warpgroup meets
        at its epilogue barrier, and thread 0 (in warp 0) stores the rows when some lie inside
        the sequence; it waits until the store has read them at once when they are a K/V
        stage's (d256), else later (wait_for_output_store). A consumer whose rows start before the sequence
        stores its rows from registers instead: no shared memory, no barrier."""
        if block.stores_directly(consumer):
            if warp == 0:
                self.simulation.stored[tile].append(consumer)
            yield
            return
        if not block.stages(consumer):
            return
        yield from self.write_rows(rows[warp], ("O", tile), who)
        generation = self.epilogue_syncs[consumer][warp]
        self.epilogue_syncs[consumer][warp] += 1
        yield from bar_sync(self.named_barriers[self.epilogue_barrier + consumer],
                            WARPGROUP_THREADS, generation, who)
        if warp == 0 and block.stores_staged(consumer):
            group = self.tma_store(rows, tile, consumer, who)
            yield
            if self.launch.output_apart:
                self.unread_store[consumer] = group
            elif self.simulation.fault is not Fault.STORE_WITHOUT_READ_WAIT:
                yield from bulk_wait_group_read(group)

    def wait_for_output_store(self, consumer, warp):
        """wait_for_output_store(): with O staged apart, thread 0 waits for its last store to
        have read the rows (a group already read, or none, passes at once)."""
        group = self.unread_store[consumer] if warp == 0 else None
        if group is not None and self.simulation.fault is not Fault.STORE_WITHOUT_READ_WAIT:
            yield from bulk_wait_group_read(group)
        yield

    def write_rows(self, buffer, tag, who):
        """store_shared_32 of the warp's 16 rows, then fence_async_shared."""
        buffer.write(tag, who)
        yield

    def tma_store(self, rows, tile, consumer, who):
        """tma_store_4d per column block and bulk_commit_group: the rows are read later."""
        group = BulkGroup(f"the TMA store of tile {tile} by {who}")
        source = Reads(group.name, [(buffer, ("O", tile)) for buffer in rows])

        def read():
            source.end()
            self.simulation.stored[tile].append(consumer)
            group.read = True
            self.simulation.scheduler.wake(group)

        self.simulation.scheduler.issue(read)
        return group


class Simulation:
    """The grid of one launch: its CTAs, their tile counter, and the checks of the outcome."""

    def __init__(self, launch, seed, fault):
        self.launch = launch
        self.fault = fault
        self.scheduler = Scheduler(seed)
        self.counter = 0  # the workspace's tile counter, zeroed before the launch
        self.taken = [[] for _ in launch.tiles]  # per tile, the CTA of each warp that received it
        self.stored = [[] for _ in launch.tiles]  # per tile, the consumers whose rows were stored
        self.ctas = [Cta(self, index) for index in range(launch.grid)]
        for cta in self.ctas:
            for agent in cta.agents:
                self.scheduler.start(agent)

    def run(self):
        self.scheduler.run()
        warps = WARPGROUP_WARPS * self.launch.consumers
        for index, tile in enumerate(self.launch.tiles):
            taken = self.taken[index]
            if len(taken) != warps or len(set(taken)) != 1:
                raise ProtocolError(f"tile {index} is received by the consumer warps of CTAs "
                                    f"{sorted(taken)}")
            stored = [consumer for consumer in range(self.launch.consumers)
                      if tile.key_blocks > 0 and tile.stores(consumer)]
            if sorted(self.stored[index]) != stored:
                raise ProtocolError(f"tile {index}: the rows of consumers "
                                    f"{sorted(self.stored[index])} are stored, not {stored}")
        for cta in self.ctas:
            for barrier in cta.mbarriers:
                if not barrier.idle():
                    raise ProtocolError(f"{barrier.name} ends in the middle of phase "
                                        f"{barrier.phase}")
            for barrier in cta.named_barriers:
                if barrier.arrived:
                    raise ProtocolError(f"{barrier.name} ends with {barrier.arrived} threads "
                                        "arrived")


def simulate(launch, seed, fault=None):
    """One random schedule of `launch` (with `fault` injected); raises ProtocolError, naming the
    launch and the seed, at the first fault, at a deadlock or at a wrong outcome."""
    try:
        Simulation(launch, seed, fault).run()
    except ProtocolError as error:
        raise ProtocolError(f"{error} [{launch}, seed {seed}]") from None
