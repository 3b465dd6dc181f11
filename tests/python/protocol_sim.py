"""Primitives for simulating a GPU kernel's synchronisation on the CPU (sm90_protocol_model.py
builds the sm90 forward from them): agents stepping under a random scheduler with an
asynchronous engine, mbarriers and named barriers as PTX defines them, shared-memory buffers
whose reads and loads are tracked, and the PTX-level steps (wait, arrive, bar.sync, the wgmma and
bulk-group waits). Every misuse raises ProtocolError."""

import heapq
import random

WARP_THREADS = 32  # a warp arrives on a barrier with all its lanes

_FINISHED = object()  # what an agent's last step returns to the scheduler

class ProtocolError(Exception):
    """A step the protocol does not allow, a deadlock, or a wrong outcome."""


class Agent:
    def __init__(self, name, steps):
        self.name = name
        self.steps = steps  # a generator: one next() per step; a yielded waitable blocks it
        self.speed = 1.0  # the chance that it moves when picked; Scheduler.start draws it


class Scheduler:
    """Runs one random interleaving of the agents and of the asynchronous engine. A blocked agent
    waits on a waitable (an object with `name` and `waiters`) until wake() is called on it, then
    polls again. An engine operation (a TMA load landing, a TMA store reading) happens a random
    number of steps after its issue, so operations complete out of order, some at once and some
    long after; per schedule each agent runs at its own speed, so any one may fall behind."""

    def __init__(self, seed):
        self.random = random.Random(seed)
        self.runnable = []
        self.blocked = {}  # agent -> the waitable it waits on
        self.pending = []  # heap of (step due, issue number, operation)
        self.steps = 0
        self.issued = 0
        self.mean_delay = self.random.choice((1, 30, 300))  # engine steps, per schedule

    def start(self, agent):
        agent.speed = self.random.choice((1.0, 1.0, 0.1))
        self.runnable.append(agent)

    def issue(self, operation):
        delay = int(self.random.expovariate(1 / self.mean_delay))
        heapq.heappush(self.pending, (self.steps + delay, self.issued, operation))
        self.issued += 1

    def wake(self, waitable):
        for agent in waitable.waiters:
            del self.blocked[agent]
            self.runnable.append(agent)
        waitable.waiters.clear()

    def run(self):
        while self.runnable or self.pending:
            if self.pending and (not self.runnable or self.pending[0][0] <= self.steps):
                heapq.heappop(self.pending)[2]()
                continue
            self.steps += 1
            index = self.random.randrange(len(self.runnable))
            agent = self.runnable[index]
            if agent.speed < 1.0 and self.random.random() >= agent.speed:
                continue
            waitable = next(agent.steps, _FINISHED)
            if waitable is None:
                continue
            self.runnable[index] = self.runnable[-1]
            self.runnable.pop()
            if waitable is not _FINISHED:
                waitable.waiters.append(agent)
                self.blocked[agent] = waitable
        if self.blocked:
            waits = [f"{agent.name} on {waitable.name}" for agent, waitable in self.blocked.items()]
            raise ProtocolError(f"deadlock: {len(waits)} agents wait, " + "; ".join(waits[:4])
                                + ("; ..." if len(waits) > 4 else ""))


class MBarrier:
    """An mbarrier as PTX defines it. A phase completes when its pending arrival count reaches
    zero and its transaction-byte count is zero; try_wait.parity(p) passes iff the phase of parity
    p has completed, i.e. iff the current phase's parity is not p. Every call also names the phase
    the caller's own counters say it is for, and one that lands in another phase is reported: the
    kernel's parity arithmetic would alias there (a wait passing early or missing its phase, an
    arrival counted in the wrong phase)."""

    def __init__(self, scheduler, name, arrivals):
        self.scheduler = scheduler
        self.name = name
        self.arrivals = arrivals  # mbarrier.init's count, in threads
        self.pending = arrivals
        self.transaction_bytes = 0  # expected and not landed yet
        self.phase = 0  # the current phase: phases 0 .. phase - 1 have completed
        self.waiters = []

    def arrive(self, threads, phase, who, expect_bytes=0):
        """mbarrier.arrive by `threads` threads; with expect_bytes, mbarrier.arrive.expect_tx."""
        self._check_phase(phase, who, "arrives on")
        self.transaction_bytes += expect_bytes
        self.pending -= threads
        self._complete_if_done()

    def complete_transaction(self, count, phase, who):
        """complete_tx: `count` bytes of a TMA load have landed."""
        self._check_phase(phase, who, "lands bytes on")
        self.transaction_bytes -= count
        self._complete_if_done()

    def try_wait(self, parity, phase, who):
        """try_wait.parity(parity) by a caller that needs phase `phase` to have completed."""
        passed = (self.phase & 1) != parity
        if self.phase != (phase + 1 if passed else phase):
            outcome = "passes" if passed else "blocks"
            raise ProtocolError(f"{who} waits on {self.name} for phase {phase} (parity {parity}) "
                                f"and {outcome} in phase {self.phase}")
        return passed

    def idle(self):
        return self.pending == self.arrivals and self.transaction_bytes == 0

    def _check_phase(self, phase, who, action):
        if phase != self.phase:
            raise ProtocolError(f"{who} {action} {self.name} for phase {phase} in phase "
                                f"{self.phase}")

    def _complete_if_done(self):
        if self.pending == 0 and self.transaction_bytes == 0:
            self.phase += 1
            self.pending = self.arrivals
            self.scheduler.wake(self)


class NamedBarrier:
    """One of the CTA's 16 named barriers: a generation completes once `threads` threads have
    arrived (bar.sync or bar.arrive, a warp's 32 at a time) and releases the warps that sync on
    it. Every call names the generation its caller's counters say, as for MBarrier."""

    def __init__(self, scheduler, name):
        self.scheduler = scheduler
        self.name = name
        self.threads = 0  # the count the generation's arrivals name
        self.arrived = 0
        self.generation = 0
        self.waiters = []

    def arrive(self, threads, generation, who):
        if generation != self.generation:
            raise ProtocolError(f"{who} arrives on {self.name} for generation {generation} in "
                                f"generation {self.generation}")
        if self.arrived and threads != self.threads:
            raise ProtocolError(f"{who} arrives on {self.name} counting {threads} threads, the "
                                f"warps before it {self.threads}")
        self.threads = threads
        self.arrived += WARP_THREADS
        if self.arrived == threads:
            self.arrived = 0
            self.generation += 1
            self.scheduler.wake(self)


class Buffer:
    """A region of shared memory and the tag of the data it holds, e.g. ("K", tile, key block).
    A TMA load in flight and the reads under way are tracked: a read must find its data landed,
    and nothing may be written or loaded into the region while it is read or loaded."""

    def __init__(self, name):
        self.name = name
        self.tag = None
        self.loading = None  # the tag of a TMA load in flight
        self.readers = []

    def begin_read(self, tag, who):
        if self.loading is not None or self.tag != tag:
            raise ProtocolError(f"{who} reads {self.name} for {tag}; it holds {self._contents()}")
        self.readers.append(who)

    def end_read(self, who):
        self.readers.remove(who)

    def write(self, tag, who):
        """st.shared by the warp: done when the step is."""
        self._check_unused(who, f"writes {tag} into")
        self.tag = tag

    def load(self, tag, who):
        self._check_unused(who, f"loads {tag} into")
        self.loading = tag

    def land(self):
        self.tag, self.loading = self.loading, None

    def _check_unused(self, who, action):
        if self.loading is not None:
            raise ProtocolError(f"{who} {action} {self.name} while {self.loading} loads into it")
        if self.readers:
            raise ProtocolError(f"{who} {action} {self.name} ({self.tag}) while "
                                f"{', '.join(self.readers)} read it")

    def _contents(self):
        return str(self.tag) if self.loading is None else f"{self.tag}, {self.loading} loading"


class Reads:
    """Buffers read asynchronously from one issue until one wait: a wgmma group's shared-memory
    operands (until wgmma_wait), a TMA store's source rows (until the engine has read them)."""

    def __init__(self, who, tagged_buffers):
        self.who = who
        self.buffers = [buffer for buffer, _ in tagged_buffers]
        for buffer, tag in tagged_buffers:
            buffer.begin_read(tag, who)

    def end(self):
        for buffer in self.buffers:
            buffer.end_read(self.who)


class BulkGroup:
    """A committed TMA store (bulk_commit_group): bulk_wait_group_read waits until it has read."""

    def __init__(self, name):
        self.name = name
        self.read = False
        self.waiters = []


# PTX-level steps, each ending the agent's step.

def wait(barrier, parity, phase, who):
    """mbarrier_wait: polls try_wait.parity until it passes."""
    while not barrier.try_wait(parity, phase, who):
        yield barrier
    yield


def arrive(barrier, threads, phase, who):
    """mbarrier_arrive, or bar.arrive on a NamedBarrier (`phase`: its generation)."""
    barrier.arrive(threads, phase, who)
    yield


def bar_sync(barrier, threads, generation, who):
    barrier.arrive(threads, generation, who)
    while barrier.generation == generation:
        yield barrier
    yield


def wgmma_wait(reads):
    """wgmma_wait: the group has finished reading its operands."""
    reads.end()
    yield


def bulk_wait_group_read(group):
    while not group.read:
        yield group
    yield
