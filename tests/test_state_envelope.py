"""The checkpoint envelope shared by every engine (vsched._state)."""

from __future__ import annotations

import copy
import pickle

import pytest

from vsched._state import CHECKPOINT_FORMAT, Checkpointable, envelope, open_envelope


class _Counter(Checkpointable):
    _implementation = "reference"

    def __init__(self) -> None:
        self.values = [1, 2, 3]

    def _checkpoint(self):
        return {"values": self.values}

    def _restore(self, payload) -> None:
        self.values = list(payload["values"])


def test_round_trip_and_copies_never_share_state():
    c = _Counter()
    for clone in (pickle.loads(pickle.dumps(c)), copy.deepcopy(c), copy.copy(c)):
        assert clone.values == [1, 2, 3]
        clone.values.append(4)
        assert c.values == [1, 2, 3]


@pytest.mark.parametrize(
    "state, message",
    [
        ({"x": 1}, "not a vsched checkpoint"),
        (envelope("_Counter", "reference", {}) | {"vsched_checkpoint": CHECKPOINT_FORMAT + 1}, "format"),
        (envelope("Other", "reference", {}), "not of a reference _Counter"),
        (envelope("_Counter", "native", {}), "not of a reference _Counter"),
    ],
)
def test_mismatched_envelopes_are_refused(state, message):
    with pytest.raises(ValueError, match=message):
        open_envelope(state, "_Counter", "reference")
