"""Checkpoints of the reference CpuScheduler: its whole state as plain data, and back.

The payload lists every attribute of the scheduler and of each VM and vCPU
record by name (the records' ``__slots__``), VMs in id order, so that a
restored scheduler continues bit-identically. The back-references between
records (a VM's vCPUs, a vCPU's VM) are rebuilt, not stored. A payload whose
attribute names differ from this version's is refused with a ValueError, so
a checkpoint of a scheduler with other fields is never half-read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["scheduler_payload", "restore_scheduler"]


def _record(obj: Any, skip: str) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in type(obj).__slots__ if name != skip}


def scheduler_payload(scheduler: Any) -> dict[str, Any]:
    """Plain picklable data holding everything `scheduler` will ever read."""
    fields = {name: value for name, value in vars(scheduler).items() if name != "_vms"}
    vms = [[_record(vm, "vcpus"), [_record(v, "vm") for v in vm.vcpus]] for vm in scheduler._vms.values()]
    return {"fields": fields, "vms": vms}


def _fill(obj: Any, values: Any, skip: str, what: str) -> None:
    names = set(type(obj).__slots__) - {skip}
    if not isinstance(values, dict) or set(values) != names:
        raise ValueError(f"corrupt checkpoint of a reference CpuScheduler: the fields of a {what}")
    for name, value in values.items():
        setattr(obj, name, value)


def restore_scheduler(scheduler: Any, payload: Any, vm_type: type, vcpu_type: type) -> None:
    """Fill `scheduler` (made without ``__init__``) from `payload`; ValueError if it does not fit."""
    try:
        fields, rows = payload["fields"], payload["vms"]
        type(scheduler).__init__(scheduler, fields["_pcpus"], fields["_slice"], fields["_strict_reservations"])
        if set(fields) != set(vars(scheduler)) - {"_vms"}:
            raise ValueError("corrupt checkpoint of a reference CpuScheduler: the scheduler's fields")
        vms = {}
        for vm_values, vcpu_rows in rows:
            vm = vm_type.__new__(vm_type)
            _fill(vm, vm_values, "vcpus", "VM")
            vm.vcpus = []
            for vcpu_values in vcpu_rows:
                v = vcpu_type.__new__(vcpu_type)
                _fill(v, vcpu_values, "vm", "vCPU")
                v.vm = vm
                vm.vcpus.append(v)
            if not isinstance(vm.id, int) or vm.id in vms or not vm.vcpus:
                raise ValueError("corrupt checkpoint of a reference CpuScheduler: VM ids")
            vms[vm.id] = vm
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"corrupt checkpoint of a reference CpuScheduler: {error!r}") from None
    if list(vms) != sorted(vms) or (vms and max(vms) >= fields["_next_id"]):
        raise ValueError("corrupt checkpoint of a reference CpuScheduler: VM ids")
    for name, value in fields.items():
        setattr(scheduler, name, value)
    scheduler._vms = vms
