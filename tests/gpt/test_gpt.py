"""VidGPT model: prompt vocabulary, layout, loss, causality, checkpoints and tokenizer identity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vidgpt.model import PRESETS, Backbone, PromptVocab, VidGPT, VidGPTConfig, corrupt_codes, tokenizer_identity
from vidgpt.model.prompt import PAD_ID
from vidgpt.sampler.plan import training_mask
from vidgpt.sampler.schedules import diagonal_schedule, raster_schedule

CAPTIONS = [f"a {s} {c} {sh} moves {d} {v}" for s in ("small", "large") for c in ("red", "blue", "green")
            for sh in ("circle", "square", "triangle") for d in ("left", "up") for v in ("slowly", "quickly")]
GRID, K, L = (2, 2, 3), 16, 16


@pytest.fixture(scope="module")
def prompt_vocab():
    return PromptVocab.fit(CAPTIONS, vocab_size=300)


@pytest.fixture(scope="module")
def model(prompt_vocab):
    torch.manual_seed(0)
    return VidGPT.build(prompt_vocab, GRID, K, prompt_length=L, preset="tiny").eval()


class DuckTokenizer:
    """Only what the identity check reads."""

    def __init__(self, codebook_size=K, spatial=4, fingerprint="abc"):
        self.codebook_size, self.spatial, self.fingerprint = codebook_size, spatial, fingerprint
        self.factors = (4, spatial, spatial)

    def latent_shape(self, frames, height, width):
        return 1 + math.ceil((frames - 1) / 4), height // self.spatial, width // self.spatial


def _batch(model, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return model.encode_prompts(CAPTIONS[:n]), torch.randint(0, K, (n, *GRID), generator=g)


# ----------------------------------------------------------------------------- prompt vocabulary


def test_prompt_vocab_accepts_any_string(prompt_vocab):
    ids = prompt_vocab.encode([CAPTIONS[-1], "zebra quantum", "日本語 🎥 Émoji", ""], 40)
    assert ids.shape == (4, 40) and ids.dtype == torch.long
    assert (ids[3] == prompt_vocab.pad_id).all()  # empty prompt = the null prompt
    assert (ids[:3, 0] != prompt_vocab.pad_id).all() and int(ids.max()) < prompt_vocab.vocab_size
    assert prompt_vocab.decode(ids[2]) == "日本語 🎥 émoji"  # byte level: nothing is unknown (lower-cased)
    assert prompt_vocab.decode(ids[1]) == "zebra quantum"
    # a seen caption compresses into few tokens
    assert (ids[0] != prompt_vocab.pad_id).sum() < len(CAPTIONS[-1]) // 2


def test_long_prompt_is_truncated_with_a_warning(prompt_vocab):
    text = " ".join(CAPTIONS[:5])
    with pytest.warns(UserWarning, match="truncated"):
        ids = prompt_vocab.encode(text, 6)
    assert ids.shape == (1, 6) and (ids != prompt_vocab.pad_id).all()


def test_prompt_vocab_round_trips_through_a_file(prompt_vocab, tmp_path):
    prompt_vocab.save(tmp_path / "p.json")
    again = PromptVocab.load(tmp_path / "p.json")
    assert torch.equal(again.encode(CAPTIONS, 40), prompt_vocab.encode(CAPTIONS, 40))
    with pytest.raises(FileNotFoundError, match="nope.json"):
        PromptVocab.load(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="vocab_size"):
        PromptVocab.fit(CAPTIONS, vocab_size=100)


# ----------------------------------------------------------------------------- layout and loss


def test_layout_ids(model, prompt_vocab):
    c = model.config
    assert c.bov_id == prompt_vocab.vocab_size and c.code_offset == c.bov_id + 1
    assert c.vocab_size == prompt_vocab.vocab_size + 1 + K and c.seq_len == L + 1 + 12
    prompt, codes = _batch(model)
    ids = model.input_ids(prompt, codes)
    assert torch.equal(ids[:, :L], prompt) and (ids[:, L] == c.bov_id).all()
    assert torch.equal(ids[:, L + 1:] - c.code_offset, codes.flatten(1))
    assert torch.equal(model.null_prompts(3), torch.zeros(3, L, dtype=torch.long))


def test_loss_is_cross_entropy_of_forward_over_codes(model):
    prompt, codes = _batch(model)
    logits = model(prompt, codes)
    assert logits.shape == (2, 12, K)
    expected = F.cross_entropy(logits.reshape(-1, K), codes.flatten())
    assert torch.allclose(model.loss(prompt, codes), expected, atol=1e-6)
    # an untrained model is close to uniform
    assert abs(expected.item() - math.log(K)) < 0.5


def test_context_noise_corrupts_inputs_only(model):
    prompt, codes = _batch(model)
    noisy = corrupt_codes(codes, 0.5, K, torch.Generator().manual_seed(3))
    frac = (noisy != codes).float().mean().item()
    assert 0.2 < frac < 0.6  # half replaced, ~1/16 of those by the same code
    loss = model.loss(prompt, codes, context_noise=0.5, generator=torch.Generator().manual_seed(3))
    ids = model.input_ids(prompt, noisy.flatten(1)[:, :-1])
    logits = model.sequence_logits(ids)[:, L:]
    assert torch.allclose(loss, F.cross_entropy(logits.reshape(-1, K), codes.flatten()), atol=1e-6)  # clean targets
    assert not torch.allclose(loss, model.loss(prompt, codes))
    assert torch.equal(corrupt_codes(codes, 0.0, K), codes)
    with pytest.raises(ValueError, match="context_noise"):
        model.loss(prompt, codes, context_noise=1.5)


def test_forward_is_causal_by_gradients(model):
    prompt, codes = _batch(model, n=1)
    captured = {}

    def keep(module, args, out):
        out.retain_grad()
        captured["emb"] = out

    handle = model.llama.model.embed_tokens.register_forward_hook(keep)
    try:
        logits = model(prompt, codes)
    finally:
        handle.remove()
    j = 5  # the prediction of code 5 comes from sequence position L + 5
    logits[0, j].sum().backward()
    grad = captured["emb"].grad[0].abs().sum(-1)
    assert (grad[: L + j + 1] > 0).all()
    assert (grad[L + j + 1:] == 0).all()
    model.zero_grad(set_to_none=True)


def test_bad_inputs_give_clear_errors(model):
    prompt, codes = _batch(model)
    with pytest.raises(ValueError, match="grid"):
        model(prompt, codes[:, :, :1])
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 16\)"):
        model(prompt, codes + K)
    with pytest.raises(ValueError, match="prompt_ids"):
        model(prompt[:, :3], codes)


def test_training_attention_mask(model):
    prompt, codes = _batch(model)
    causal = training_mask(raster_schedule(*GRID), GRID, L)
    assert torch.allclose(model(prompt, codes, attention_mask=causal), model(prompt, codes), atol=1e-5)
    diag = training_mask(diagonal_schedule(*GRID, window=1), GRID, L)
    a, b = model(prompt, codes), model(prompt, codes, attention_mask=diag)
    same = (a - b).abs().amax(dim=(0, 2)) < 1e-5
    # predictions before the first query whose visible set shrank keep their logits; that one changes
    first = int((diag != causal)[L:].any(dim=1).nonzero()[0])
    assert first == 3  # code 3 (row 1, column 0) is produced while row 0 is unfinished
    assert same[:first].all() and not same[first]
    with pytest.raises(ValueError, match="attention_mask"):
        model(prompt, codes, attention_mask=diag[:-1, :-1])


# ----------------------------------------------------------------------------- config, presets, checkpoints


def test_presets_reach_about_a_billion_parameters():
    sizes = {}
    for name in PRESETS:
        cfg = VidGPTConfig(prompt_length=32, grid=(5, 16, 16), codebook_size=1000, text_vocab_size=512,
                           backbone=Backbone(**PRESETS[name]))
        with torch.device("meta"):
            sizes[name] = sum(p.numel() for p in VidGPT(cfg).parameters())
    assert sizes["tiny"] < sizes["demo"] < sizes["small"] < sizes["medium"] < sizes["large"]
    assert 3e6 < sizes["demo"] < 10e6
    assert 0.8e9 < sizes["large"] < 1.2e9


def test_config_round_trip_and_errors(tmp_path):
    cfg = VidGPTConfig(prompt_length=4, grid=(2, 3, 4), codebook_size=10, text_vocab_size=300,
                       backbone=Backbone(**PRESETS["tiny"]), tokenizer={"codebook_size": 10})
    cfg.save(tmp_path / "v.json")
    again = VidGPTConfig.load(tmp_path / "v.json")
    assert again == cfg
    d = json.loads((tmp_path / "v.json").read_text())
    assert (d["bov_id"], d["code_offset"], d["vocab_size"]) == (300, 301, 311)
    d["code_offset"] = 7
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="code_offset"):
        VidGPTConfig.load(tmp_path / "bad.json")
    del d["grid"]
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="grid"):
        VidGPTConfig.load(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        VidGPTConfig.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="kv_heads"):
        Backbone(layers=1, hidden=64, heads=4, kv_heads=3, intermediate=8)


def test_save_and_load_pretrained(prompt_vocab, tmp_path, capfd):
    ident = tokenizer_identity(DuckTokenizer(), 5, 8, 12)
    assert ident["grid"] == [2, 2, 3]
    model = VidGPT.build(prompt_vocab, GRID, K, prompt_length=L, preset="tiny", tokenizer=ident).eval()
    model.save_pretrained(tmp_path / "gpt")
    names = {p.name for p in (tmp_path / "gpt").iterdir()}
    assert {"vidgpt.json", "prompt_vocab.json", "config.json", "model.safetensors"} <= names
    assert "prompt_tokenizer.json" not in names  # the old name is read, never written
    capfd.readouterr()
    again = VidGPT.from_pretrained(tmp_path / "gpt")
    assert "Loading weights" not in capfd.readouterr().err  # transformers' bar, noise for a load of ms
    prompt, codes = _batch(model)
    assert torch.equal(again(prompt, codes), model(prompt, codes))
    assert torch.equal(again.encode_prompts(CAPTIONS), model.encode_prompts(CAPTIONS))
    assert again.config == model.config
    with pytest.raises(FileNotFoundError, match="nowhere"):
        VidGPT.from_pretrained(tmp_path / "nowhere")


def test_a_folder_with_the_old_prompt_file_name_still_loads(prompt_vocab, tmp_path):
    """Folders saved before the prompt vocabulary's rename hold prompt_tokenizer.json: read it."""
    model = VidGPT.build(prompt_vocab, GRID, K, prompt_length=L, preset="tiny").eval()
    model.save_pretrained(tmp_path / "gpt")
    (tmp_path / "gpt" / "prompt_vocab.json").rename(tmp_path / "gpt" / "prompt_tokenizer.json")
    old = VidGPT.from_pretrained(tmp_path / "gpt")
    assert old.prompt_vocab is not None
    assert torch.equal(old.encode_prompts(CAPTIONS), model.encode_prompts(CAPTIONS))
    prompt, codes = _batch(model)
    assert torch.equal(old(prompt, codes), model(prompt, codes))
    old.save_pretrained(tmp_path / "again")  # saved again: the new name only
    assert (tmp_path / "again" / "prompt_vocab.json").is_file()
    assert not (tmp_path / "again" / "prompt_tokenizer.json").exists()


def test_the_shipped_model_reads_its_prompt_file_of_the_old_name():
    shipped = Path(__file__).resolve().parents[2] / "vidgpt" / "pretrained" / "shapes" / "gpt"
    names = {p.name for p in shipped.iterdir()}
    (name,) = names & {"prompt_vocab.json", "prompt_tokenizer.json"}
    gpt = VidGPT.from_pretrained(shipped)
    text = ["a large blue triangle moves right slowly", "a small red circle moves up quickly"]
    direct = PromptVocab.load(shipped / name).encode(text, gpt.config.prompt_length)
    assert torch.equal(gpt.encode_prompts(text), direct) and (direct != PAD_ID).any()


def test_check_tokenizer_names_the_mismatch(prompt_vocab):
    ident = tokenizer_identity(DuckTokenizer(), 5, 8, 12)
    model = VidGPT.build(prompt_vocab, GRID, K, prompt_length=L, preset="tiny", tokenizer=ident)
    model.check_tokenizer(DuckTokenizer())  # the same one passes
    with pytest.raises(ValueError, match="codebook_size"):
        model.check_tokenizer(DuckTokenizer(codebook_size=32))
    with pytest.raises(ValueError, match="grid"):
        model.check_tokenizer(DuckTokenizer(spatial=2))
    with pytest.raises(ValueError, match="fingerprint"):
        model.check_tokenizer(DuckTokenizer(fingerprint="other"))
