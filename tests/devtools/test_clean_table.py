"""tools/clean_table.py on the tiny random model: tokenizer and generation rows, files written, bad input named."""

import json

import pytest

from tools import clean_table


@pytest.fixture(scope="module")
def tool():
    return clean_table


def test_rows_for_the_tokenizer_and_each_setting(tool, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    assert tool.main(["--model", str(tiny_model_dir), "--per-split", "2", "--sweep", "sampling", "--code-noise", "0.5",
                      "--frames", "9", "--batch-size", "6", "--out", str(out)]) == 0
    table = json.loads((out / "table.json").read_text())
    names = [r["setting"] for r in table["rows"]]
    assert names == ["tokenizer: real codes", "tokenizer: 50% codes random",
                     *(name for name, _ in tool.SWEEPS["sampling"])]
    for r in table["rows"]:
        assert r["videos"] == 6 and 0 <= r["clean"]["overall"] <= 1
        assert sum(r["by_frame"]["frames"]) == 6 * 9
    assert table["rows"][0]["video_level_all"] is None and table["rows"][-1]["video_level_all"]["overall"] is not None
    assert "tokenizer: real codes" in (out / "table.md").read_text()
    assert (out / "failures.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_named(tool, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        tool.main(["--model", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert e.value.code == 2 and "nowhere" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        tool.main(["--per-split", "0"])
    assert e.value.code == 2 and "--per-split must be >= 1" in capsys.readouterr().err
