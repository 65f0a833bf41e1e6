"""tools/ship_tokenizer.py and tools/bench_natural.py: a tokenizer is scored beside rescaling baselines and
shipped with a card written from that score; an untrained one is refused and nothing is written."""

from __future__ import annotations

import json

import torch

from tools import bench_natural, ship_tokenizer
from vidtok.model import TokenizerConfig, VideoTokenizer
from vidtok.model import pretrained


def _clips(size: int, clips: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(size)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    frames = torch.stack([torch.sin(4 * xx + 0.3 * t) * torch.cos(3 * yy) for t in range(17)])
    video = (0.7 * frames[None, None].expand(clips, 3, 17, size, size)).clone()
    return {"held-out pictures": video + 0.05 * torch.randn_like(video)}


def _run_folder(tmp_path):
    run = tmp_path / "run"
    VideoTokenizer(TokenizerConfig(codebook_size=64, channels=[8, 16], pixel_channels=[])).save_pretrained(run / "tokenizer")
    return run


def test_an_untrained_tokenizer_is_refused_and_nothing_ships(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_natural, "_clip_sets", _clips)
    monkeypatch.setattr(ship_tokenizer, "PRETRAINED_DIR", tmp_path / "shelf")
    assert ship_tokenizer.main(["--run", str(_run_folder(tmp_path)), "--clips", "2"]) == 2
    assert "no better than each clip's mean colour" in capsys.readouterr().err
    assert not (tmp_path / "shelf").exists()


def test_a_run_without_a_tokenizer_is_one_line(tmp_path, capsys):
    assert ship_tokenizer.main(["--run", str(tmp_path)]) == 2
    assert "no tokenizer/config.json" in capsys.readouterr().err


def test_bench_rows_and_a_shipped_card(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_natural, "_clip_sets", _clips)
    run = _run_folder(tmp_path)
    rows = bench_natural.run({"tiny": run / "tokenizer"}, clips=2, sizes=(32,))
    codecs = [r["codec"] for r in rows]
    assert codecs == ["tokenizer tiny", "bicubic 8x down-up", "bicubic 4x down-up", "mean colour"]
    by = {r["codec"]: r for r in rows}
    assert by["bicubic 4x down-up"]["psnr"] > by["bicubic 8x down-up"]["psnr"]
    assert by["bicubic 8x down-up"]["vs bicubic 8x"] == 0
    assert 0 < by["tokenizer tiny"]["codebook usage"] <= 1 and by["tokenizer tiny"]["decode fps"] > 0

    # as if it had trained: the card and the files land in the shelf under the name
    good = [dict(r, psnr=40.0) if r["codec"] == "tokenizer natural" else r
            for r in bench_natural.run({"natural": run / "tokenizer"}, clips=2, sizes=(32,))]
    monkeypatch.setattr(ship_tokenizer, "bench", lambda *a, **k: [dict(r, size=s) for s in ("64x64", "128x128")
                                                                   for r in good])
    monkeypatch.setattr(ship_tokenizer, "PRETRAINED_DIR", tmp_path / "shelf")
    assert ship_tokenizer.main(["--run", str(run), "--clips", "2"]) == 0
    shipped = tmp_path / "shelf" / "natural"
    assert sorted(p.name for p in shipped.iterdir()) == ["MODEL_CARD.md", "config.json", "model.safetensors", "report.json"]
    card = (shipped / "MODEL_CARD.md").read_text()
    assert "64 codes (levels" in card and "| tokenizer natural " in card and "steps not recorded" in card
    assert json.loads((shipped / "report.json").read_text())["clips"] == 2
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "shelf")
    assert VideoTokenizer.from_pretrained("natural").codebook_size == 64
