import argparse
import json

import numpy as np
import pytest

from bmp_ray.bench import host, host_masks, host_store
from bmp_ray.bench.host_meter import COMPONENTS


def _args(*argv):
    p = argparse.ArgumentParser()
    host.add_arguments(p)
    args = p.parse_args(list(argv))
    args.json = True
    return args


def test_bench_host_quick_components_bytes_and_oracle(shared_data):
    out = host.run(_args("--quick"))
    assert out["benchmark"] == "host" and out["size"] == "1920x1080" and out["frames"] == 1
    assert out["segment_frames"] == 1800
    assert out["people_per_frame"] >= 2
    for m in (out, out["today"]):
        comp = m["host_ms_by_component"]
        assert set(comp) == {"decode", *COMPONENTS, "other", "forward"}
        assert all(v >= 0 for v in comp.values()) and comp["forward"] > 0 and comp["decode"] > 0
        assert all(comp[c] > 0 for c in COMPONENTS)  # every component measured something
        # the goal's host work: the four components and the stages' row handling, nothing excluded
        assert sum(comp[c] for c in COMPONENTS) <= m["host_ms_per_frame"]
        assert m["host_ms_per_frame"] == pytest.approx(sum(comp[c] for c in COMPONENTS) + comp["other"])
        assert 0 < m["host_ms_device_ops_per_frame"] < m["host_ms_per_frame"]
        assert m["host_ms_per_segment"] > 0  # the end rows, timed apart and spread over a segment
        details = m["host_ms_by_detail"]
        assert sum(details.values()) == pytest.approx(sum(comp.values()))
    mb = out["object_store_mb_per_frame"]
    assert list(mb)[:3] == ["FromItems", "MapBatches(decode_rows)", "MapBatches(Detect_1)"]
    assert "MapBatches(Sam_2)" in mb and "MapBatches(write_parts)" in mb
    today = out["today"]["object_store_mb_per_frame"]
    assert today["MapBatches(decode_rows)"] > 1920 * 1080 * 3 / 1e6  # the frame travels with its row
    # new: at the 1024-pixel working resolution, as I420 planes (1.5 bytes a pixel)
    assert mb["MapBatches(decode_rows)"] == pytest.approx(1024 * 576 * 1.5 / 1e6, rel=0.01)
    for m in (mb, today):
        assert m["MapBatches(Sam_1)"] > m["MapBatches(Pose_1)"]  # and the SAM embedding from Sam_1 on
    assert out["ratio_object_store"] == pytest.approx(
        out["object_store_mb_per_frame_total"] / out["object_store_mb_per_frame_total_today"]
    )
    if any(o.startswith("sam.transport") for o in out["new_options"]):  # half the embedding's bytes
        emb = [m["MapBatches(Sam_1)"] - m["MapBatches(Pose_1)"] for m in (today, mb)]
        # (with the people's smaller window masks at the working resolution)
        assert emb[0] - emb[1] == pytest.approx(256 * 64 * 64 * 2 / 1e6, rel=0.15)
    assert out["results_vs_oracle_today"]["exact"] and out["results_vs_oracle_new"]["within_tolerance"]
    for key in ("decode.max_side=1024", "decode.frame_transport=i420"):  # the transport alone changes nothing
        assert out["results_vs_oracle_by_option"][key]["vs_oracle_same_frames"]["exact"]
    assert "same_people" in out["results_vs_full_resolution"]
    assert out["host_ms_any_machine_per_frame"] == pytest.approx(
        out["host_ms_per_frame"] - out["host_ms_device_ops_per_frame"]
    )
    people = out["people_masks"]  # the mask steps again, on people's masks: the same labels swapped in
    assert people["people_per_frame"] == 4 and set(people["labels"]) <= set(people["host_ms_by_detail"])
    assert people["host_ms_any_machine_per_frame"] == pytest.approx(
        out["host_ms_any_machine_per_frame"] - people["bench_ms"] + people["people_ms"]
    )
    replayed = out["forwards_replayed"]  # the forwards' recorded outputs handed back: the same results
    for r, m in ((replayed, out), (replayed["today"], out["today"])):
        assert r["results_equal"] and r["results_vs_computed"]["within_tolerance"]
        assert r["host_ms_by_component"]["forward"] < m["host_ms_by_component"]["forward"] / 5
        assert 0 < r["host_ms_device_ops_per_frame"] < r["host_ms_per_frame"]
        assert r["host_ms_any_machine_per_frame"] == pytest.approx(
            r["host_ms_per_frame"] - r["host_ms_device_ops_per_frame"]
        )
    swapped = host_masks.swap(replayed["host_ms_by_detail"], people["host_ms_by_detail"])
    assert replayed["host_ms_any_machine_people_masks"] == pytest.approx(
        replayed["host_ms_any_machine_per_frame"] - swapped["bench_ms"] + swapped["people_ms"]
    )
    low = replayed["gpu_host_lower_bound"]  # the glue on people's masks and the device steps' dispatch
    assert low["host_ms_any_machine"] == replayed["host_ms_any_machine_people_masks"]
    assert low["device_step_operators"] == out["torch_ops_per_frame"]["device_ops"]
    assert 0 < low["dispatch_us_per_operator"] < 1000
    assert low["host_ms_per_frame"] == pytest.approx(
        low["host_ms_any_machine"] + low["device_step_operators"] * low["dispatch_us_per_operator"] / 1e3
    )
    bound = out["goals"]["host core-ms/frame on a GPU host, lower bound"]
    assert bound["measured"] == low["host_ms_per_frame"] and not bound["met"]  # a lower bound never meets it
    for ops in (out["torch_ops_per_frame"], out["torch_ops_per_frame"]["today"]):  # counted in the recorded run
        assert ops["forwards"] > ops["device_ops"] > 0 and ops["scalar_reads"] >= 0
        assert ops["forwards"] + ops["device_ops"] + ops["any_machine"] == pytest.approx(sum(ops["by_detail"].values()))
        assert ops["by_detail"]["forward: SAM mask decoder"] > 0
    assert set(out["goals"]) and all(isinstance(g["met"], bool) for g in out["goals"].values())
    json.dumps({k: v for k, v in out.items() if k != "rows"})  # what `bmp-ray bench host --json` prints
    assert all(isinstance(out[k], float) for k in out if k.startswith("ratio"))


def _known_batch():
    return {
        "frame_index": np.array([3, 4, -1]),
        "state": np.array([b"ab", b"cde", b""], object),
        "frame": np.zeros((3, 2, 2, 3), np.uint8),
    }


# Arrow's nbytes, as Ray Data's stats count a block: the int64 column 3 x 8 bytes; the binary column one
# int32 offset per row and its 5 bytes; the (3, 2, 2, 3) uint8 tensor column (a large list per row)
# one int64 offset per row and its 36 values
HAND = 3 * 8 + (3 * 4 + 5) + (3 * 8 + 36)


def test_block_bytes_equal_a_hand_computed_size():
    block = host_store.to_block(_known_batch())
    assert host_store.block_bytes(block) == HAND == 101
    back = host_store.from_block(block)
    assert list(back["state"]) == [b"ab", b"cde", b""] and list(back["frame_index"]) == [3, 4, -1]
    assert back["frame"].shape == (3, 2, 2, 3)


@pytest.mark.parametrize("flag", ["--frames", "--people", "--threads", "--repeats"])
def test_counts_below_one_are_refused_naming_them(flag):
    with pytest.raises(ValueError, match="--repeats must be >= 1"):
        host.run(_args(flag, "0"))
