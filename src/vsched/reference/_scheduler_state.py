"""Checkpoints of the reference CpuScheduler: its whole state as plain data, and back.

The payload lists every attribute of the scheduler and of each VM and vCPU
record by name (the records' ``__slots__``), VMs in id order, so that a
restored scheduler continues bit-identically. A VM's limit bucket (rule 5) and
reservation account (rule 6) are their own records in memory but are listed
among the VM's attributes, under the names they had when they were one record
(``res_lag``, ``res_time`` for the account's ``lag``, ``time``), so the payload
is the same as before the split. The back-references between records (a VM's
vCPUs, a vCPU's VM) are rebuilt, not stored, and so are the rule components'
formula objects (``_limits``, ``_res``: a function of the slice). A payload whose
attribute names differ from this version's is refused with a ValueError, so
a checkpoint of a scheduler with other fields is never half-read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["scheduler_payload", "restore_scheduler"]


_NOT_STORED = {"_vms", "_limits", "_res"}  # the scheduler's attributes rebuilt, not stored
_VM_PARTS = {"vcpus", "bucket", "account"}  # a VM record's attributes stored otherwise or rebuilt
_ACCOUNT_NAMES = {"res_u": "res_u", "lag": "res_lag", "time": "res_time"}  # account slot -> payload name


def _record(obj: Any, skip: set[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in type(obj).__slots__ if name not in skip}


def _vm_record(vm: Any) -> dict[str, Any]:
    values = _record(vm, _VM_PARTS)
    values.update(_record(vm.bucket, set()))
    values.update({_ACCOUNT_NAMES[name]: getattr(vm.account, name) for name in type(vm.account).__slots__})
    return dict(sorted(values.items()))


def scheduler_payload(scheduler: Any) -> dict[str, Any]:
    """Plain picklable data holding everything `scheduler` will ever read."""
    fields = {name: value for name, value in vars(scheduler).items() if name not in _NOT_STORED}
    vms = [[_vm_record(vm), [_record(v, {"vm"}) for v in vm.vcpus]] for vm in scheduler._vms.values()]
    return {"fields": fields, "vms": vms}


def _fill(obj: Any, values: Any, skip: set[str], what: str) -> None:
    names = set(type(obj).__slots__) - skip
    if not isinstance(values, dict) or set(values) != names:
        raise ValueError(f"corrupt checkpoint of a reference CpuScheduler: the fields of a {what}")
    for name, value in values.items():
        setattr(obj, name, value)


def _fill_vm(vm: Any, values: Any, bucket: Any, account: Any) -> None:
    """A VM record and its bucket and account from one stored set of names."""
    bucket_names = set(type(bucket).__slots__)
    account_names = {_ACCOUNT_NAMES[name] for name in type(account).__slots__}
    vm_names = set(type(vm).__slots__) - _VM_PARTS
    if not isinstance(values, dict) or set(values) != vm_names | bucket_names | account_names:
        raise ValueError("corrupt checkpoint of a reference CpuScheduler: the fields of a VM")
    for name, value in values.items():
        if name in bucket_names:
            setattr(bucket, name, value)
        elif name in vm_names:
            setattr(vm, name, value)
    for name, stored in _ACCOUNT_NAMES.items():
        setattr(account, name, values[stored])
    vm.bucket, vm.account = bucket, account


def restore_scheduler(
    scheduler: Any,
    payload: Any,
    vm_type: type,
    vcpu_type: type,
    bucket_type: type,
    account_type: type,
) -> None:
    """Fill `scheduler` (made without ``__init__``) from `payload`; ValueError if it does not fit."""
    try:
        fields, rows = payload["fields"], payload["vms"]
        type(scheduler).__init__(scheduler, fields["_pcpus"], fields["_slice"], fields["_strict_reservations"])
        if set(fields) != set(vars(scheduler)) - _NOT_STORED:
            raise ValueError("corrupt checkpoint of a reference CpuScheduler: the scheduler's fields")
        vms = {}
        for vm_values, vcpu_rows in rows:
            vm = vm_type.__new__(vm_type)
            bucket, account = bucket_type.__new__(bucket_type), account_type.__new__(account_type)
            _fill_vm(vm, vm_values, bucket, account)
            vm.vcpus = []
            for vcpu_values in vcpu_rows:
                v = vcpu_type.__new__(vcpu_type)
                _fill(v, vcpu_values, {"vm"}, "vCPU")
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
