"""tools/switch_table.py: every method's row on the tiny model, the follow delay, and the tokenizer's ceiling row."""

import json

import numpy as np
import pytest

from tools import switch_table
from vidgpt.cli.generate import SHIPPED_MODEL
from vidgpt.generator import VideoGenerator
from vidtok.shapes.clean_frames import judge_frames


def test_follow_delay_counts_frames_until_every_later_frame_is_clean():
    assert switch_table.follow_delay(np.array([True, True, True])) == 0
    assert switch_table.follow_delay(np.array([False, True, False, True, True])) == 3
    assert switch_table.follow_delay(np.array([True, True, False])) is None


def test_rows_for_each_method(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    assert switch_table.main(["--model", str(tiny_model_dir), "--per-split", "1", "--at", "5", "--frames", "9",
                              "--batch-size", "3", "--out", str(out)]) == 0
    rows = json.loads((out / "table.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["plain A", "change", "restart", "tokenizer alone"]
    assert all(r["videos"] == 3 and 0 <= r["follows_b"] <= 1 for r in rows)
    assert "tokenizer alone" in (out / "table.md").read_text()


def test_a_gpt_with_a_change_adapter_gets_a_row_without_it(adapter_model_dir, tmp_path):
    out = tmp_path / "out"
    assert switch_table.main(["--model", str(adapter_model_dir), "--per-split", "1", "--at", "5", "--frames", "9",
                              "--batch-size", "3", "--out", str(out)]) == 0
    rows = {r["method"]: r for r in json.loads((out / "table.json").read_text())["rows"]}
    assert list(rows) == ["plain A", "change", "change, no adapter", "restart", "tokenizer alone"]
    # a new adapter (B = 0) changes nothing: with and without it the videos are judged alike
    assert rows["change"]["follows_b_within"] == rows["change, no adapter"]["follows_b_within"]


def test_tokenizer_row_reconstructs_the_real_switch_clip():
    """With the shipped tokenizer the real clip's frames before the change come back clean: the row is the
    rendered pair's clip, not a generated one."""
    generator = VideoGenerator.from_pretrained(SHIPPED_MODEL)
    a = ["a large red circle moves right slowly", "a small green square moves up quickly"]
    b = ["a small blue triangle moves down quickly", "a large yellow circle moves left slowly"]
    clips = switch_table.reconstructed_switch_clips(generator, a, b, at=9, frames=17, side=64, seed=0)
    assert clips.shape == (2, 17, 64, 64, 3) and clips.dtype == np.uint8
    for clip, caption in zip(clips, a):
        assert judge_frames(clip[:9], caption)["clean"].all()


def test_switch_sheet_writes_rendered_and_reconstructed_rows(tmp_path):
    from tools import switch_sheet
    out = tmp_path / "sheet.png"
    shipped = str(SHIPPED_MODEL / "tokenizer")
    assert switch_sheet.main(["--tokenizer", shipped, "--tokenizer", shipped, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tokenizer = VideoGenerator.from_pretrained(SHIPPED_MODEL).tokenizer
    rows = switch_sheet.sheet_rows([tokenizer])
    assert rows.shape == (2 * len(switch_sheet.PAIRS), 8, 64, 64, 3)
    assert judge_frames(rows[0], switch_sheet.PAIRS[0][0])["clean"][:3].all()  # the rendered clip, before the change
