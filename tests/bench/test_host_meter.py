import time

import pytest
import torch

from bmp_ray.bench import host_meter
from bmp_ray.bench.host_meter import FORWARD, Meter, Replay, instrument


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


class _Thing:
    def inner(self):
        _spin(0.03)

    def outer(self):
        _spin(0.03)
        self.inner()


def test_nested_calls_are_charged_exclusively_and_attributes_restored():
    meter = Meter()
    thing = _Thing()
    with instrument(meter, [(thing, "outer", "post-processing", "outer"), (thing, "inner", "RLE", "inner")]):
        thing.outer()
        assert "outer" in vars(thing)
    assert "outer" not in vars(thing) and "inner" not in vars(thing)  # the class's methods again
    outer, inner = meter.cpu["post-processing", "outer"], meter.cpu["RLE", "inner"]
    assert 0.025 < inner < 0.045 and 0.025 < outer < 0.045  # outer's own 30 ms, without inner's
    assert meter.calls["RLE", "inner"] == 1 and set(meter.by_component()) == {"post-processing", "RLE"}
    assert meter.by_caller == {
        (("RLE", "inner"), ("post-processing", "outer")): inner,
        (("post-processing", "outer"), None): outer,
    }
    thing.outer()  # no longer timed
    assert meter.calls["post-processing", "outer"] == 1


def test_class_attributes_are_put_back():
    meter = Meter()
    original = _Thing.__dict__["inner"]
    with instrument(meter, [(_Thing, "inner", "RLE", "inner")]):
        _Thing().outer()
        assert _Thing.__dict__["inner"] is not original
    assert _Thing.__dict__["inner"] is original and meter.calls["RLE", "inner"] == 1


def test_median_of_repeated_runs_is_taken_label_by_label():
    runs = [Meter() for _ in range(3)]
    for m, (a, b) in zip(runs, [(1.0, 9.0), (3.0, 1.0), (2.0, 5.0)]):
        m.cpu["RLE", "x"], m.wall["RLE", "x"], m.cpu["serialisation", "y"] = a, a + 1, b
        m.calls["RLE", "x"] = 4
        m.by_caller[("RLE", "x"), None] = a
    runs[2].cpu["other", "z"] = 6.0  # a label one run did not record counts 0 in the others
    med = Meter.median(runs)
    assert dict(med.cpu) == {("RLE", "x"): 2.0, ("serialisation", "y"): 5.0, ("other", "z"): 0.0}
    assert med.wall["RLE", "x"] == 3.0 and med.calls["RLE", "x"] == 4 and med.by_caller[("RLE", "x"), None] == 2.0
    assert med.by_component() == {"RLE": 2.0, "serialisation": 5.0, "other": 0.0}


def test_add_scales_another_meters_seconds_into_this_one():
    a, b = Meter(), Meter()
    a.cpu["RLE", "x"], a.wall["RLE", "x"] = 1.0, 2.0
    b.cpu["RLE", "x"], b.cpu["other", "end rows"], b.wall["RLE", "x"] = 4.0, 8.0, 4.0
    b.by_caller[("RLE", "x"), None] = 4.0
    a.add(b, 0.25)  # a segment's costs spread over 4 frames' worth
    assert dict(a.cpu) == {("RLE", "x"): 2.0, ("other", "end rows"): 2.0}
    assert a.wall["RLE", "x"] == 3.0 and a.by_caller[("RLE", "x"), None] == 1.0
    assert not a.calls  # calls stay the counts of this meter's own runs


class _Model:
    def __init__(self):
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return (torch.full((2,), float(x)), {"n": [x]})


def test_replay_hands_back_the_recorded_outputs_in_order_without_computing():
    m, meter, replay = _Model(), Meter(), Replay()
    with instrument(meter, [(m, "forward", FORWARD, "model")], replay):
        replay.start("record")
        recorded = [m.forward(i) for i in (1, 2)]
        replay.start("replay")
        first = m.forward(7)  # the argument is not read: the first recorded output comes back
        first[0].add_(100)  # a clone: changing it changes nothing recorded
        replay.rewind()
        again = [m.forward(0), m.forward(0)]
        with pytest.raises(RuntimeError, match=r"called 3 times, recorded 2"):
            m.forward(0)
    assert m.calls == 2 and meter.calls[FORWARD, "model"] == 6
    assert torch.equal(first[0], torch.full((2,), 101.0))
    for got, want in zip(again, recorded):
        assert torch.equal(got[0], want[0]) and got[1] == want[1] and got[0] is not want[0]


def test_replay_refuses_a_mode_it_does_not_know_and_a_replay_of_nothing():
    with pytest.raises(ValueError, match="'off', 'record' or 'replay', got 'again'"):
        Replay().start("again")
    with pytest.raises(RuntimeError, match="nothing was recorded"):
        Replay().start("replay")


def test_only_forwards_are_replayed():
    m, meter, replay = _Model(), Meter(), Replay()
    with instrument(meter, [(m, "forward", "preprocessing", "not a forward")], replay):
        replay.start("record")
        m.forward(1)
        assert not replay.outputs


def test_op_counter_counts_what_computes_per_label_and_scalar_reads_apart():
    from bmp_ray.bench.host_meter import OpCounter

    def step():
        x = torch.zeros(6)  # 1: a fill
        y = (x + 1).reshape(2, 3).t()  # 2: the add; the reshape and the transpose are views
        y = y.contiguous()  # 3: a copy
        x.add_(1)  # 4: in place
        x.to("cpu")  # already there: handed back, nothing computed
        return float(y.sum())  # 5: the sum, and a scalar read

    meter = Meter()
    timed = meter.timed("post-processing", "step", step)
    with OpCounter(meter) as ops:
        torch.ones(2)  # outside every label: not counted
        timed()
        with torch.inference_mode():
            timed()
    assert dict(ops.ops) == {("post-processing", "step"): 10}
    assert dict(ops.scalar_reads) == {("post-processing", "step"): 2}
    torch.ones(2)  # the counter is off again
    assert dict(ops.ops) == {("post-processing", "step"): 10}


def test_recorded_outputs_are_copied_outside_the_op_counter():
    m, meter, replay = _Model(), Meter(), Replay()
    from bmp_ray.bench.host_meter import OpCounter

    with instrument(meter, [(m, "forward", FORWARD, "model")], replay), OpCounter(meter) as ops:
        replay.start("record")
        m.forward(1)
    assert dict(ops.ops) == {(FORWARD, "model"): 1}  # the forward's fill, not the clone


def test_dispatch_cost_per_operator_is_measured_on_one_thread_and_threads_restored():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        us = host_meter.dispatch_us(calls=20, passes=3)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert 0.05 < us < 1000  # microseconds: a tiny operator's host cost, far from a millisecond
