"""HostMembers (the coordinator's VMs-per-host layout) against per-host lists, on random churn."""

import numpy as np
import pytest

from vsched.fleet.members import HostMembers


@pytest.mark.parametrize("seed", range(20))
def test_members_follow_per_host_lists(seed):
    rng = np.random.default_rng(seed)
    hosts = int(rng.integers(1, 8))
    members = HostMembers(hosts)
    lists: list[list[tuple[int, int]]] = [[] for _ in range(hosts)]  # (host VM id, fleet id), host VM order
    next_id = [0] * hosts
    fid = 0
    for _ in range(int(rng.integers(20, 200))):
        action = rng.random()
        h = int(rng.integers(hosts))
        if action < 0.5:  # a host appends its newest VM
            members.add(h, next_id[h], fid)
            lists[h].append((next_id[h], fid))
            next_id[h] += 1
            fid += 1
        elif action < 0.8:  # some VMs leave, any hosts, one batch
            on = [(g, vm) for g in range(hosts) for vm, _ in lists[g]]
            if on:
                picked = rng.choice(len(on), size=int(rng.integers(1, len(on) + 1)), replace=False)
                out = [on[i] for i in picked]
                members.remove_many(np.array([g for g, _ in out], dtype=np.int64),
                                    np.array([vm for _, vm in out], dtype=np.int64))
                for g, vm in out:
                    lists[g] = [x for x in lists[g] if x[0] != vm]
        elif action < 0.9:  # the host fails: emptied, its next life numbers from 0
            members.clear(h)
            lists[h], next_id[h] = [], 0
        if rng.random() < 0.3:  # the layout is read now and then (merges what is queued)
            ids, sizes = members.layout()
            assert ids.tolist() == [f for g in range(hosts) for _, f in lists[g]]
            assert sizes.tolist() == [len(x) for x in lists]
        assert len(members) == sum(len(x) for x in lists)
        assert members[h] == [f for _, f in lists[h]]


def test_removing_a_vm_not_on_the_host_raises():
    members = HostMembers(2)
    members.add(0, 0, 7)
    members.layout()
    members.remove(1, 0)
    with pytest.raises(RuntimeError, match="not on"):
        members.layout()


def test_layout_is_read_only():
    members = HostMembers(1)
    members.add(0, 0, 3)
    ids, _ = members.layout()
    with pytest.raises(ValueError):
        ids[0] = 1
