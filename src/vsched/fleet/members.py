"""Which fleet VMs are on which host, in the order the hosts' step reads them (``docs/fleet.md``, F13, F21).

Every tick the hosts are stepped with their VMs concatenated in host id order, then host VM
order (ascending host VM id: a host numbers its VMs 0, 1, 2, ... and never reuses an id, so
it appends in that order, rule H1). That is one array sorted by the key ``host << 32 | host VM
id``; the coordinator keeps it sorted instead of rebuilding it from per-host lists each tick.
Adds and removes are queued and applied together when the layout is read: one sorted merge and
one delete (two memmoves of the array), no Python per VM.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HostMembers"]

_SHIFT = 32  # host VM ids stay far below 2**32 (one per VM ever added to one host's life)


def _key(host: np.ndarray | int, local: np.ndarray | int) -> np.ndarray:
    return (np.asarray(host, dtype=np.int64) << _SHIFT) | np.asarray(local, dtype=np.int64)


class HostMembers:
    """The fleet VM ids on each of `hosts` hosts, in host then host VM order.

    A key is never added twice without a remove in between: a host's VM ids are never reused
    while it lives, and a host that fails or is powered off is emptied at once (:meth:`clear`)
    before a new life numbers its VMs from 0 again.
    """

    def __init__(self, hosts: int) -> None:
        self.sizes = np.zeros(hosts, dtype=np.int64)  # VMs per host
        self._keys = np.zeros(0, dtype=np.int64)  # sorted
        self._ids = np.zeros(0, dtype=np.int64)  # fleet VM id of each key
        self._added: list[tuple[int, int]] = []  # (key, fleet id) not merged yet
        self._removed: list[np.ndarray] = []  # keys not deleted yet

    def __len__(self) -> int:
        return int(self.sizes.sum())

    def add(self, host: int, local: int, fid: int) -> None:
        """Fleet VM `fid` is now VM `local` of `host` (the host's newest)."""
        self._added.append(((host << _SHIFT) | local, fid))
        self.sizes[host] += 1

    def remove(self, host: int, local: int) -> None:
        self.remove_many(np.array([host], dtype=np.int64), np.array([local], dtype=np.int64))

    def remove_many(self, hosts: np.ndarray, locals_: np.ndarray) -> None:
        """VMs ``locals_[i]`` leave ``hosts[i]``."""
        if hosts.size:
            self._removed.append(_key(hosts, locals_))
            np.subtract.at(self.sizes, hosts, 1)

    def _apply(self) -> None:
        """Merge the queued adds and deletes: one keep mask over the array, one merge of the
        (few) added keys into it."""
        if not self._added and not self._removed:
            return
        added = np.array(self._added, dtype=np.int64).reshape(-1, 2)
        added = added[np.argsort(added[:, 0], kind="stable")]
        gone = np.concatenate(self._removed) if self._removed else np.zeros(0, dtype=np.int64)
        self._added, self._removed = [], []
        if gone.size and added.size:  # VMs added and removed since the last merge: never merged
            undone = np.isin(added[:, 0], gone)
            gone = gone[~np.isin(gone, added[:, 0])]
            added = added[~undone]
        keys, ids = self._keys, self._ids
        if gone.size:
            at = np.searchsorted(keys, gone)
            if np.any(at >= keys.size) or not np.array_equal(keys[at], gone):
                raise RuntimeError("HostMembers: a VM removed from a host it is not on")
            keep = np.ones(keys.size, dtype=bool)
            keep[at] = False
            keys, ids = keys[keep], ids[keep]
        if added.size:
            at = np.searchsorted(keys, added[:, 0]) + np.arange(added.shape[0])  # positions once merged
            old = np.ones(keys.size + added.shape[0], dtype=bool)
            old[at] = False
            merged_keys, merged_ids = np.empty(old.size, dtype=np.int64), np.empty(old.size, dtype=np.int64)
            merged_keys[old], merged_ids[old] = keys, ids
            merged_keys[at], merged_ids[at] = added[:, 0], added[:, 1]
            keys, ids = merged_keys, merged_ids
        ids.flags.writeable = False  # handed out by layout() without a copy
        self._keys, self._ids = keys, ids

    def layout(self) -> tuple[np.ndarray, np.ndarray]:
        """All VMs on hosts (fleet ids, host then host VM order; read-only) and each host's count (a copy)."""
        self._apply()
        return self._ids, self.sizes.copy()

    def _span(self, host: int) -> tuple[int, int]:
        self._apply()
        a, b = np.searchsorted(self._keys, [host << _SHIFT, (host + 1) << _SHIFT])
        return int(a), int(b)

    def __getitem__(self, host: int) -> list[int]:
        """The fleet ids on `host`, in its VM order."""
        a, b = self._span(host)
        return self._ids[a:b].tolist()

    def clear(self, host: int) -> None:
        """`host` holds no VM any more (it failed or was powered off)."""
        a, b = self._span(host)
        self._keys = np.delete(self._keys, slice(a, b))
        self._ids = np.delete(self._ids, slice(a, b))
        self._ids.flags.writeable = False
        self.sizes[host] = 0
