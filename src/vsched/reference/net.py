"""Pure-Python NetScheduler: the oracle and baseline of ``vsched.NetScheduler``.

Same rules, results (bit for bit) and errors as the native core; the formulas
are written out in ``csrc/core/net.cpp`` (fluid) and
``csrc/core/net_packets.cpp`` (packets), the rules in docs/engines/network.md.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

from .._net_args import (
    NetGuard,
    PacketRun,
    check_vm_types,
    demand_vector,
    guard_vectors,
    packet_arrays,
    packet_options,
    packet_run,
    vm_key,
)
from .._state import Checkpointable
from .._validate import as_float
from ..errors import AdmissionError
from .allocation import fair_share, floors_exceed

__all__ = ["NetGuard", "NetScheduler", "PacketRun"]

MAX_LINK = 2.0**50
MAX_BANDS = 64
MAX_SHARES = 2**32
MAX_PACKET = 2**24
MAX_TIME = 2**62
BIT_NS = 8_000_000_000  # bits * 1e9 per byte


def transmission_ns(size: int, link: int) -> int:
    """ceil(size * 8e9 / link) ns."""
    return (size * BIT_NS + link - 1) // link


class _Bucket:
    __slots__ = ("last", "rate", "tokens")

    def __init__(self, rate: int, depth: int) -> None:
        self.rate = rate
        self.tokens = depth if rate else 0
        self.last = 0

    def refill(self, now: int, depth: int) -> None:
        dt = now - self.last
        self.last = now
        if dt <= 0 or self.rate == 0:
            return
        self.tokens = min(depth, self.tokens + self.rate * dt)


def _quantile(x: list, q: float) -> float:
    """Of sorted x: h = (c - 1)·q, lo = floor(h), x[lo] + (h - lo)·(x[lo + 1] - x[lo]) (N11)."""
    c = len(x)
    h = (c - 1) * q
    lo = math.floor(h)
    a = x[lo]
    b = x[lo + 1] if lo + 1 < c else a
    return a + (h - lo) * (b - a)


def _stats(vms: int, index: list, arrival: list, size: list, start: list, finish: list) -> tuple:
    """Per-VM totals, throughput and delay quantiles of a run (N11)."""
    sent = [0] * vms
    sent_bytes = [0] * vms
    dropped = [0] * vms
    delays: list[list[float]] = [[] for _ in range(vms)]
    for p, i in enumerate(index):
        if start[p] < 0:
            dropped[i] += 1
            continue
        sent[i] += 1
        sent_bytes[i] += size[p]
        delays[i].append(float(start[p] - arrival[p]))
    finished = [f for f in finish if f >= 0]
    duration = max(finished) - min(arrival) if finished else 0
    throughput = [float(b) * 8e9 / float(duration) if duration > 0 else 0.0 for b in sent_bytes]
    nan = math.nan
    p50, p99, top = [], [], []
    for x in delays:
        x.sort()
        p50.append(_quantile(x, 0.5) if x else nan)
        p99.append(_quantile(x, 0.99) if x else nan)
        top.append(x[-1] if x else nan)
    return duration, sent, sent_bytes, dropped, throughput, p50, p99, top


def _fmt(x: float) -> str:
    return repr(x)


class NetScheduler(Checkpointable):
    """Reference twin of :class:`vsched.NetScheduler` (same arguments, results, errors)."""

    _implementation = "reference"

    def __init__(self, link_bps: float, bands: int = 3, guard: NetGuard | None = None) -> None:
        link = as_float("link_bps", link_bps)
        nbands, caps, minimums = guard_vectors(guard, bands)
        if not math.isfinite(link) or not link >= 1.0 or link > MAX_LINK:
            raise ValueError(f"link_bps = {_fmt(link)}: link_bps must be in [1, 2**50]")
        if not 1 <= nbands <= MAX_BANDS:
            raise ValueError(f"bands = {nbands}: bands must be an integer in [1, {MAX_BANDS}]")
        caps = caps or [math.inf] * nbands
        minimums = minimums or [0.0] * nbands
        for k, c in enumerate(caps):
            if math.isnan(c) or not c >= 1.0:
                raise ValueError(f"guard caps[{k}] = {_fmt(c)}: a cap must be >= 1 bps (None or inf for none)")
        total = 0.0
        for k, m in enumerate(minimums):
            if not math.isfinite(m) or m < 0.0:
                raise ValueError(f"guard minimums[{k}] = {_fmt(m)}: a minimum must be finite and >= 0")
            if m > caps[k]:
                raise ValueError(f"guard minimums[{k}] = {_fmt(m)} exceeds caps[{k}] = {_fmt(caps[k])}")
            total += m
        if floors_exceed(total, link):
            raise AdmissionError(f"guard minimums sum to {_fmt(total)} > link_bps {_fmt(link)}")
        self._link = link
        self._caps = caps
        self._minimums = minimums
        self._next_id = 0
        self._ids: list[int] = []
        self._band: list[int] = []
        self._shares: list[float] = []
        self._reservation: list[float] = []
        self._limit: list[float] = []
        self._starved: list[bool] = []
        self._starved_ticks: list[int] = []

    # -- VMs ------------------------------------------------------------------

    def _check_params(self, band: int, shares: int, reservation: float, limit: float | None) -> tuple:
        lim = math.inf if limit is None else limit
        if not 0 <= band < len(self._caps):
            raise ValueError(f"band = {band}: band must be in [0, {len(self._caps) - 1}]")
        if not 1 <= shares <= MAX_SHARES:
            raise ValueError(f"shares = {shares}: shares must be an integer in [1, 2**32]")
        if not math.isfinite(reservation) or reservation < 0.0:
            raise ValueError(f"reservation = {_fmt(reservation)}: reservation must be finite and >= 0")
        if math.isnan(lim) or lim < 0.0:
            raise ValueError(f"limit = {_fmt(lim)}: limit must be >= 0 (None or inf for no limit)")
        if lim < reservation:
            raise AdmissionError(
                f"limit {_fmt(lim)} is below reservation {_fmt(reservation)} by {_fmt(reservation - lim)}"
            )
        return band, float(shares), reservation, lim

    def _check_admission(self, index: int, p: tuple) -> None:
        band, _, reservation, _ = p
        sums = [0.0] * len(self._caps)
        for i in range(len(self._ids)):
            k = band if i == index else self._band[i]
            sums[k] += reservation if i == index else self._reservation[i]
        if index == len(self._ids):
            sums[band] += reservation
        if floors_exceed(sums[band], self._caps[band]):
            raise AdmissionError(
                f"reservations of band {band} would sum to {_fmt(sums[band])} > its cap {_fmt(self._caps[band])}"
            )
        total = 0.0
        for k in range(len(self._caps)):
            total += max(sums[k], self._minimums[k])
        if floors_exceed(total, self._link):
            raise AdmissionError(
                f"reservations exceed the link by {_fmt(total - self._link)}: with the guard minimums they "
                f"would take {_fmt(total)} > link_bps {_fmt(self._link)}"
            )

    def _index(self, vm: int) -> int:
        try:
            return self._ids.index(vm)
        except ValueError:
            raise KeyError(f"vm {vm} is not on this host") from None

    def add_vm(self, band: int = 0, shares: int = 1000, reservation: float = 0.0, limit: float | None = None) -> int:
        p = self._check_params(*check_vm_types(band, shares, reservation, limit))
        self._check_admission(len(self._ids), p)
        vm = self._next_id
        self._next_id += 1
        self._ids.append(vm)
        self._band.append(p[0])
        self._shares.append(p[1])
        self._reservation.append(p[2])
        self._limit.append(p[3])
        self._starved.append(False)
        self._starved_ticks.append(0)
        return vm

    def set_vm(
        self, vm: int, band: int = 0, shares: int = 1000, reservation: float = 0.0, limit: float | None = None
    ) -> None:
        vm_id = vm_key(vm)
        types = check_vm_types(band, shares, reservation, limit)  # types first, as the native wrapper
        index = self._index(vm_id)
        p = self._check_params(*types)
        self._check_admission(index, p)
        self._band[index], self._shares[index], self._reservation[index], self._limit[index] = p

    def remove_vm(self, vm: int) -> None:
        index = self._index(vm_key(vm))
        for values in (self._ids, self._band, self._shares, self._reservation, self._limit, self._starved,
                       self._starved_ticks):
            del values[index]

    def band_of(self, vm: int) -> int:
        return self._band[self._index(vm_key(vm))]

    @property
    def vms(self) -> list[int]:
        return list(self._ids)

    # -- fluid ----------------------------------------------------------------

    def allocate(self, demand_bps: Any) -> np.ndarray:
        demand = demand_vector(demand_bps, len(self._ids)).tolist()
        for i, d in enumerate(demand):
            if not math.isfinite(d) or d < 0.0:
                raise ValueError(f"demand_bps[{i}] = {_fmt(d)}: demand_bps must be finite and >= 0")
        nb = len(self._caps)
        members: list[list[int]] = [[] for _ in range(nb)]
        for i, k in enumerate(self._band):
            members[k].append(i)
        setaside = [0.0] * nb
        for k in range(nb):
            floors = 0.0
            ceilings = 0.0
            for i in members[k]:
                u = min(demand[i], self._limit[i])
                floors += min(self._reservation[i], u)
                ceilings += u
            setaside[k] = max(floors, min(self._minimums[k], min(ceilings, self._caps[k])))
        below = [0.0] * nb
        acc = 0.0
        for k in range(nb - 1, -1, -1):
            below[k] = acc
            acc += setaside[k]
        out = [0.0] * len(self._ids)
        remaining = self._link
        for k in range(nb):
            m = members[k]
            if not m:
                continue
            capacity = min(self._caps[k], max(setaside[k], remaining - below[k]))
            alloc = fair_share(
                capacity,
                np.array([demand[i] for i in m]),
                np.array([self._shares[i] for i in m]),
                np.array([self._reservation[i] for i in m]),
                np.array([self._limit[i] for i in m]),
            ).tolist()
            used = 0.0
            for j, i in enumerate(m):
                out[i] = alloc[j]
                used += alloc[j]
            remaining -= used
        for i in range(len(self._ids)):
            starved = min(demand[i], self._limit[i]) > 0.0 and out[i] == 0.0
            self._starved[i] = starved
            self._starved_ticks[i] += 1 if starved else 0
        return np.array(out, dtype=np.float64)

    def starved(self) -> np.ndarray:
        return np.array(self._starved, dtype=bool)

    def starved_ticks(self) -> np.ndarray:
        return np.array(self._starved_ticks, dtype=np.int64)

    # -- packets --------------------------------------------------------------

    def _validate_packets(self, vm: list, arrival: list, size: list, queue_bytes: int, quantum_bytes: int,
                          burst_bytes: int) -> list[int]:
        if not 1 <= queue_bytes <= MAX_TIME:
            raise ValueError(f"queue_bytes = {queue_bytes}: queue_bytes must be an integer in [1, 2**62]")
        if not 1 <= quantum_bytes <= MAX_PACKET:
            raise ValueError(f"quantum_bytes = {quantum_bytes}: quantum_bytes must be an integer in [1, 2**24]")
        if not 0 <= burst_bytes <= MAX_PACKET:
            raise ValueError(f"burst_bytes = {burst_bytes}: burst_bytes must be an integer in [0, 2**24]")
        position = {v: i for i, v in enumerate(self._ids)}
        link = int(self._link)
        index = []
        band_bytes = [0] * len(self._caps)
        vm_bytes = [0] * len(self._ids)
        previous = 0
        for p in range(len(vm)):
            i = position.get(vm[p])
            if i is None:
                raise KeyError(f"vm[{p}] = {vm[p]}: vm {vm[p]} is not on this host")
            index.append(i)
            a = arrival[p]
            if not 0 <= a <= MAX_TIME:
                raise ValueError(f"arrival_ns[{p}] = {a}: arrival_ns must be in [0, 2**62]")
            if a < previous:
                raise ValueError(
                    f"arrival_ns[{p}] = {a} < arrival_ns[{p - 1}] = {previous}: packets must be in arrival order"
                )
            previous = a
            s = size[p]
            if not 1 <= s <= MAX_PACKET:
                raise ValueError(f"size_bytes[{p}] = {s}: size_bytes must be an integer in [1, 2**24]")
            band_bytes[self._band[i]] += s
            vm_bytes[i] += s
        # The finish-time bound of N6/N10 (csrc/core/net.cpp, validate_packets).
        horizon = 3 * len(vm) + sum(band_bytes) * BIT_NS // link
        for k, b in enumerate(band_bytes):
            cap = self._caps[k]
            slowest = link if math.isinf(cap) else min(link, int(cap))
            horizon += b * BIT_NS // slowest
        for i, b in enumerate(vm_bytes):  # N12: a VM limited below the link also waits for its own bucket
            lim = self._limit[i]
            if 1.0 <= lim < self._link:
                horizon += b * BIT_NS // int(lim)
        if horizon > MAX_TIME - previous:
            raise ValueError(
                "the packets would keep the link busy past 2**62 ns: use a faster link or fewer, smaller packets"
            )
        return index

    def simulate_packets(
        self,
        vm: Any,
        arrival_ns: Any,
        size_bytes: Any,
        queue_bytes: int = 262144,
        quantum_bytes: int = 1500,
        burst_bytes: int = 0,
    ) -> PacketRun:
        vm_a, arrival_a, size_a = packet_arrays(vm, arrival_ns, size_bytes)
        queue, quantum_unit, burst = packet_options(queue_bytes, quantum_bytes, burst_bytes)
        arrival = arrival_a.tolist()
        size = size_a.tolist()
        index = self._validate_packets(vm_a.tolist(), arrival, size, queue, quantum_unit, burst)
        if burst == 0:
            burst = max([1, *size])
        start, finish = self._run(index, arrival, size, queue, quantum_unit, burst)
        return packet_run(self.vms, start, finish, *_stats(len(self._ids), index, arrival, size, start, finish))

    def _run(self, vm_index: list, arrival: list, size: list, queue_bytes: int, quantum_unit: int,
             burst: int) -> tuple[list, list]:
        """The packet engine, rule for rule as csrc/core/net_packets.cpp (N6-N10, N12)."""
        n = len(arrival)
        nv = len(self._ids)
        nb = len(self._caps)
        link = int(self._link)
        depth = burst * BIT_NS
        band_of = self._band
        quantum = [(int(w) * quantum_unit + 999) // 1000 for w in self._shares]
        queues: list[list[int]] = [[] for _ in range(nv)]  # packet indices, head first
        heads = [0] * nv
        queued = [0] * nv
        deficit = [0] * nv
        in_turn = [False] * nv
        active: list[list[int]] = [[] for _ in range(nb)]  # DRR order; a plain list as a FIFO
        cap = [_Bucket(0 if math.isinf(c) else int(c), depth) for c in self._caps]  # rate 0: no cap
        minimum = [_Bucket(int(m), depth) for m in self._minimums]
        guarded = any(b.rate > 0 for b in cap) or any(b.rate > 0 for b in minimum)
        # N12: per-VM limit buckets (rate floor(l); None: no limit below the link; rate 0 drops all)
        # and reservation buckets (rate min(floor(r), L)); phase 0 looks at reserved VMs by (band, index).
        limited = any(lim < self._link for lim in self._limit)
        limit_rate = [int(lim) if lim < self._link else -1 for lim in self._limit]
        limit = [_Bucket(max(r, 0), depth) for r in limit_rate]
        reserving = any(r >= 1.0 for r in self._reservation)
        reservation = [_Bucket(int(min(r, math.floor(self._link))), depth) for r in self._reservation]
        reserved = sorted((i for i in range(nv) if reserving and reservation[i].rate > 0), key=lambda i: band_of[i])
        sleeping: list[tuple[int, int]] = []  # heap of (wake, VM)
        in_ring = [False] * nv
        phase0_after = 0  # phase 0 finds nobody before this time unless a reserved VM joins a list
        start = [-1] * n
        finish = [-1] * n
        now = 0
        nxt = 0
        backlog = 0

        def push(k: int, i: int) -> None:
            active[k].append(i)
            in_ring[i] = True

        def unlink(k: int, i: int) -> None:
            active[k].remove(i)
            in_ring[i] = False

        def dequeue(i: int) -> int:
            """The head packet leaves VM i's queue; an emptied queue leaves its band's list with deficit 0."""
            p = queues[i][heads[i]]
            heads[i] += 1
            queued[i] -= size[p]
            if heads[i] == len(queues[i]):
                queues[i] = []
                heads[i] = 0
                deficit[i] = 0
                in_turn[i] = False
                unlink(band_of[i], i)
            return p

        def skip_rounds(ring: list) -> None:
            rounds = min((size[queues[v][heads[v]]] - deficit[v] + quantum[v] - 1) // quantum[v] for v in ring)
            for v in ring:
                deficit[v] += (rounds - 1) * quantum[v]

        while True:
            while nxt < n and arrival[nxt] <= now:
                p = nxt
                nxt += 1
                i = vm_index[p]
                if queued[i] + size[p] > queue_bytes or (limited and limit_rate[i] == 0):
                    continue
                queued[i] += size[p]
                if heads[i] == len(queues[i]):
                    push(band_of[i], i)
                    if reserving and reservation[i].rate > 0:
                        phase0_after = 0
                queues[i].append(p)
                backlog += 1
            while sleeping and sleeping[0][0] <= now:
                _, i = heapq.heappop(sleeping)
                push(band_of[i], i)
                if reserving and reservation[i].rate > 0:
                    phase0_after = 0
            if backlog == 0:
                if nxt == n:
                    break
                now = max(now, arrival[nxt])
                continue
            if guarded:
                for k in range(nb):
                    cap[k].refill(now, depth)
                    minimum[k].refill(now, depth)
            chosen = -1
            if now >= phase0_after and reserved:
                retry = math.inf
                for r in reserved:
                    k = band_of[r]
                    if not in_ring[r]:
                        continue
                    if cap[k].rate > 0 and cap[k].tokens <= 0:
                        retry = min(retry, now + (-cap[k].tokens) // cap[k].rate + 1)
                        continue
                    reservation[r].refill(now, depth)
                    if reservation[r].tokens <= 0:
                        retry = min(retry, now + (-reservation[r].tokens) // reservation[r].rate + 1)
                        continue
                    if limited and limit[r].rate > 0:
                        limit[r].refill(now, depth)
                        if limit[r].tokens <= 0:
                            retry = min(retry, now + (-limit[r].tokens) // limit[r].rate + 1)
                            continue
                    chosen = r
                    break
                phase0_after = 0 if chosen >= 0 else retry
            band = -1
            by_minimum = False
            p = -1
            if chosen >= 0:
                band = band_of[chosen]
                p = dequeue(chosen)
            else:
                if guarded:
                    for k in range(nb):
                        if active[k] and minimum[k].rate > 0 and minimum[k].tokens > 0 and (
                            cap[k].rate == 0 or cap[k].tokens > 0
                        ):
                            band, by_minimum = k, True
                            break
                    if band < 0:
                        for k in range(nb):
                            if active[k] and (cap[k].rate == 0 or cap[k].tokens > 0):
                                band = k
                                break
                else:
                    band = next((k for k in range(nb) if active[k]), -1)
                if band < 0:
                    wakes = [now + (-cap[k].tokens) // cap[k].rate + 1 for k in range(nb) if active[k]]
                    if sleeping:
                        wakes.append(sleeping[0][0])
                    if nxt < n:
                        wakes.append(arrival[nxt])
                    now = min(wakes)
                    continue
                ring = active[band]
                misses = 0
                while True:
                    i = ring[0]
                    if limited and limit[i].rate > 0:
                        limit[i].refill(now, depth)
                        if limit[i].tokens <= 0:
                            unlink(band, i)
                            in_turn[i] = False
                            heapq.heappush(sleeping, (now + (-limit[i].tokens) // limit[i].rate + 1, i))
                            if not ring:
                                break
                            if misses >= len(ring):
                                skip_rounds(ring)
                                misses = 0
                            continue
                    if not in_turn[i]:
                        deficit[i] += quantum[i]
                        in_turn[i] = True
                    s = size[queues[i][heads[i]]]
                    if s <= deficit[i]:
                        deficit[i] -= s
                        p = dequeue(i)
                        break
                    p = -1
                    in_turn[i] = False
                    ring.append(ring.pop(0))
                    misses += 1
                    if misses >= len(ring):
                        skip_rounds(ring)
                        misses = 0
                if p < 0:
                    continue  # every VM of the band went to sleep: choose again
            backlog -= 1
            cost = size[p] * BIT_NS
            if cap[band].rate > 0:
                cap[band].tokens -= cost
            if minimum[band].rate > 0:
                tokens = minimum[band].tokens
                minimum[band].tokens = tokens - cost if by_minimum else max(min(tokens, 0), tokens - cost)
            owner = vm_index[p]
            if limited and limit[owner].rate > 0:
                limit[owner].refill(now, depth)  # a no-op unless phase 0 skipped it (refills compose)
                limit[owner].tokens -= cost
            if reserving and reservation[owner].rate > 0:
                reservation[owner].refill(now, depth)
                tokens = reservation[owner].tokens
                reservation[owner].tokens = tokens - cost if chosen >= 0 else max(min(tokens, -depth), tokens - cost)
            start[p] = now
            now += transmission_ns(size[p], link)
            finish[p] = now
        return start, finish

    # -- state ----------------------------------------------------------------

    def _checkpoint(self) -> Any:
        return {
            "link_bps": self._link,
            "caps": list(self._caps),
            "minimums": list(self._minimums),
            "next_id": self._next_id,
            "ids": list(self._ids),
            "band": list(self._band),
            "shares": list(self._shares),
            "reservation": list(self._reservation),
            "limit": list(self._limit),
            "starved": list(self._starved),
            "starved_ticks": list(self._starved_ticks),
        }

    def _restore(self, payload: Any) -> None:
        keys = ("link_bps", "caps", "minimums", "next_id", "ids", "band", "shares", "reservation", "limit",
                "starved", "starved_ticks")
        if not isinstance(payload, dict) or any(key not in payload for key in keys):
            raise ValueError("not a checkpoint of a reference NetScheduler")
        n = len(payload["ids"])
        if any(len(payload[key]) != n for key in keys[5:]) or len(payload["caps"]) != len(payload["minimums"]):
            raise ValueError("corrupt NetScheduler checkpoint (inconsistent lengths)")
        self._link = float(payload["link_bps"])
        self._caps = [float(x) for x in payload["caps"]]
        self._minimums = [float(x) for x in payload["minimums"]]
        self._next_id = int(payload["next_id"])
        self._ids = [int(x) for x in payload["ids"]]
        self._band = [int(x) for x in payload["band"]]
        self._shares = [float(x) for x in payload["shares"]]
        self._reservation = [float(x) for x in payload["reservation"]]
        self._limit = [float(x) for x in payload["limit"]]
        self._starved = [bool(x) for x in payload["starved"]]
        self._starved_ticks = [int(x) for x in payload["starved_ticks"]]

    @property
    def link_bps(self) -> float:
        return self._link

    @property
    def bands(self) -> int:
        return len(self._caps)

    @property
    def guard(self) -> NetGuard:
        return NetGuard(caps=tuple(self._caps), minimums=tuple(self._minimums))

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"NetScheduler(link_bps={self.link_bps!r}, bands={self.bands}, guard={self.guard!r}; {len(self)} VMs)"
