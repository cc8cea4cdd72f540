"""Trainable state <-> Flower records, checked against the receiver's own model."""

from __future__ import annotations

import pytest
import torch

from borderless.flower import records
from borderless.flower.direct_grid import wire_copy


def _state():
    g = torch.Generator().manual_seed(0)
    return {"head.weight": torch.randn(7, 4, generator=g), "head.bias": torch.randn(7, generator=g),
            "prompt": torch.randn(3, 4, generator=g)}


def test_state_survives_the_wire_exactly():
    state = _state()
    content = wire_copy(records.train_instruction(state, {"round": 2, "seed": 11, "batches_before": 4}))
    got, config = records.read_train_instruction(content, state)
    assert config == {"round": 2, "seed": 11, "batches_before": 4}
    for k in state:
        assert torch.equal(got[k], state[k])
    reply = wire_copy(records.train_reply(state, 35, {"train_loss": 1.5}))
    got, n, metrics = records.read_train_reply(reply, state, "hau_Latn")
    assert n == 35 and metrics == {"train_loss": 1.5} and all(torch.equal(got[k], state[k]) for k in state)


def test_a_state_that_does_not_fit_names_sender_and_tensor():
    state = _state()
    wrong = dict(state, prompt=torch.zeros(5, 4))
    with pytest.raises(records.WireFormatError, match=r"hau_Latn: prompt is \(5, 4\)"):
        records.read_train_reply(records.train_reply(wrong, 3, {}), state, "hau_Latn")
    fewer = {k: v for k, v in state.items() if k != "prompt"}
    with pytest.raises(records.WireFormatError, match="sent 2 tensors, this model trains 3"):
        records.read_train_reply(records.train_reply(fewer, 3, {}), state, "yor_Latn")
    half = {k: v.half() for k, v in state.items()}
    with pytest.raises(records.WireFormatError, match="float16"):
        records.read_train_reply(records.train_reply(half, 3, {}), state, "amh_Ethi")


def test_inventory_and_size_describe_the_message():
    state = _state()
    content = records.train_reply(state, 35, {"train_loss": 1.5})
    inv = records.inventory(content)
    assert sorted(a["shape"] for a in inv["fitres.parameters"]["items"].values()) == [[3, 4], [7], [7, 4]]
    assert inv["fitres.num_examples"] == {"kind": "metrics", "items": {"num_examples": "int"}}
    raw = sum(t.numel() * 4 for t in state.values())
    assert raw < records.payload_bytes(content) < raw + 1000
