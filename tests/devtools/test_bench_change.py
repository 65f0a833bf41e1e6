"""tools/bench_change.py: a row per setting with the adapter's and the change's ratios; a GPT without an adapter is refused."""

import pytest

from tools import bench_change


def test_rows_for_every_setting(adapter_model_dir):
    rows = bench_change.run(str(adapter_model_dir), repeats=1, at=5, frames=9, settings=((1, False), (2, True)))
    assert [(r["batch"], r["decoded"]) for r in rows] == [(1, False), (2, True)]
    for r in rows:
        assert r["adapter_ratio"] == pytest.approx(r["change_adapter_s"] / r["change_no_adapter_s"], rel=0.02)
        assert r["change_ratio"] == pytest.approx(r["change_adapter_s"] / r["plain_s"], rel=0.02)
        assert r["merge_s"] >= 0


def test_a_gpt_without_an_adapter_is_refused(tiny_model_dir):
    with pytest.raises(SystemExit) as e:
        bench_change.main(["--model", str(tiny_model_dir), "--repeats", "1"])
    assert e.value.code == 2
