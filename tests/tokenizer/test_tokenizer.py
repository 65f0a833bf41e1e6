"""VideoTokenizer: shapes, causality, image path, chunking, save/load, quantizers, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from vidtok.model import TokenizerConfig, VideoTokenizer, fsq_levels_for
from vidtok.model.layers import CausalConv3d, depth_to_space, depth_to_time, space_to_depth, streaming, time_to_depth

TINY = dict(channels=[8, 16], blocks=1, pixel_channels=[8])
# both decoder outputs: the per-patch MLP head and the per-frame full-resolution stages
DECODERS = pytest.mark.parametrize("pixel_channels", [[], [8, 4]], ids=["patch-head", "pixel-stages"])


def tiny(**kw) -> VideoTokenizer:
    torch.manual_seed(0)
    return VideoTokenizer(TokenizerConfig(**{**TINY, **kw})).eval()


def video(b: int = 2, t: int = 17, s: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, t, s, s, generator=g) * 2 - 1


@pytest.mark.parametrize("frames,latent", [(1, 1), (5, 2), (17, 5), (20, 6)])
@DECODERS
def test_shapes_for_several_lengths(frames: int, latent: int, pixel_channels: list[int]) -> None:
    m = tiny(pixel_channels=pixel_channels)
    x = video(t=frames)
    codes = m.encode(x)
    assert codes.shape == (2, latent, 4, 4) and codes.dtype == torch.long
    assert m.latent_shape(frames, 32, 32) == (latent, 4, 4)
    assert 0 <= int(codes.min()) and int(codes.max()) < m.codebook_size
    assert m.decode(codes, frames=frames).shape == x.shape
    assert m.decode(codes).shape[2] == 1 + 4 * (latent - 1)  # default: the padded length
    recon, codes2, aux, _ = m(x)  # the training path agrees with encode
    assert recon.shape == x.shape and torch.equal(codes2, codes) and aux.ndim == 0


@DECODERS
def test_causality_future_frames_do_not_change_earlier_codes(pixel_channels: list[int]) -> None:
    m = tiny(pixel_channels=pixel_channels)
    x = video(t=17)
    base = m.encode(x)
    y = x.clone()
    y[:, :, 9] = -y[:, :, 9]  # frame 9 lives in latent frame 3 (frames 9..12)
    changed = m.encode(y)
    assert torch.equal(changed[:, :3], base[:, :3])
    assert not torch.equal(changed[:, 3:], base[:, 3:])
    # and the decoder is causal too: latent frame 3's codes do not affect frames 0..8
    out_a, out_b = m.decode(base), m.decode(changed)
    assert torch.equal(out_a[:, :, :9], out_b[:, :, :9])


@DECODERS
def test_one_frame_video_is_the_image_path(pixel_channels: list[int]) -> None:
    m = tiny(pixel_channels=pixel_channels)
    x = video(t=17)
    img = x[:, :, 0]
    codes = m.encode_image(img)
    assert codes.shape == (2, 4, 4)
    assert torch.equal(codes, m.encode(x[:, :, :1])[:, 0])
    assert torch.equal(codes, m.encode(x)[:, 0])  # the first frame is coded alone
    assert torch.allclose(m.decode_image(codes), m.decode(codes[:, None])[:, :, 0])


@DECODERS
def test_chunked_coding_equals_one_pass(pixel_channels: list[int]) -> None:
    m = tiny(pixel_channels=pixel_channels)
    x = video(b=1, t=37, seed=3)  # 10 latent frames
    whole = m.encode(x, chunk_latents=64)
    chunked = m.encode(x, chunk_latents=3)
    assert torch.equal(whole, chunked)
    a = m.decode(whole, frames=37, chunk_latents=64)
    b = m.decode(whole, frames=37, chunk_latents=4)
    assert torch.allclose(a, b, atol=1e-5)


@DECODERS
def test_decode_stream_equals_one_decode_and_streams_do_not_disturb_each_other(pixel_channels: list[int]) -> None:
    m = tiny(pixel_channels=pixel_channels)
    a, b = m.encode(video(b=1, t=21, seed=3)), m.encode(video(b=1, t=21, seed=4))  # 6 latent frames each
    whole_a, whole_b = m.decode(a), m.decode(b)
    stream_a, stream_b = m.decode_stream(), m.decode_stream()
    parts_a, parts_b = [], []
    for lo, hi in ((0, 1), (1, 2), (2, 4), (4, 6)):  # a latent frame at a time, then two at a time
        parts_a.append(stream_a(a[:, lo:hi]))
        m.decode(b[:, :3])  # a whole-video decode in between leaves both streams' context alone
        parts_b.append(stream_b(b[:, lo:hi]))
    assert [p.shape[2] for p in parts_a] == [1, 4, 8, 8]  # latent frame 0 is frame 0 alone
    assert torch.allclose(torch.cat(parts_a, dim=2), whole_a, atol=1e-5)
    assert torch.allclose(torch.cat(parts_b, dim=2), whole_b, atol=1e-5)
    assert not torch.allclose(parts_a[1], m.decode_stream()(a[:, 1:2]), atol=1e-3)  # the context matters
    with pytest.raises(ValueError, match="codes must lie in"):
        stream_a(torch.full_like(a[:, :1], m.codebook_size))


@pytest.mark.parametrize("temporal_kernel", [1, 2, 3])
def test_batch_one_frames_path_equals_conv3d(temporal_kernel: int) -> None:
    """A batch of 1 on CPU runs as per-frame 2D convs; a larger batch as torch's conv3d."""
    torch.manual_seed(0)
    conv = CausalConv3d(6, 5, 3, temporal_kernel)
    x = torch.randn(2, 6, 7, 8, 8)
    both = conv(x)
    assert both.shape == (2, 5, 7, 8, 8)
    assert torch.allclose(conv(x[:1]), both[:1], atol=1e-5)
    for batch in (x[:1], x):  # streamed in chunks of 3, 1 and 3 frames, either path
        with streaming(conv):
            chunks = torch.cat([conv(batch[:, :, a:b]) for a, b in ((0, 3), (3, 4), (4, 7))], dim=2)
        assert torch.allclose(chunks, both[: batch.shape[0]], atol=1e-5)


def test_layout_helpers_are_inverse() -> None:
    x = torch.randn(2, 3, 8, 8, 8)
    assert torch.equal(depth_to_space(space_to_depth(x, 4), 4), x)
    assert torch.equal(depth_to_time(time_to_depth(x, 4), 4), x)


def test_save_load_round_trip(tmp_path) -> None:
    m = tiny(quantizer="vq", codebook_size=32, latent_dim=4)
    m.train()
    m(video())  # k-means init + one EMA update, so the buffers are not at their defaults
    m.eval()
    x = video(seed=1)
    m.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    m2 = VideoTokenizer.from_pretrained(tmp_path)
    assert m2.cfg == m.cfg
    assert torch.equal(m2.encode(x), m.encode(x))
    codes = m.encode(x)
    assert torch.equal(m2.decode(codes), m.decode(codes))


def test_mismatched_checkpoint_is_a_clear_error(tmp_path) -> None:
    tiny().save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["channels"] = [8, 24]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not match"):
        VideoTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        VideoTokenizer.from_pretrained(tmp_path / "nowhere")


def test_config_saved_before_pixel_stages_loads_as_patch_head(tmp_path) -> None:
    """Tokenizers saved before `pixel_channels` existed (no key in config.json) keep their MLP head."""
    m = tiny(pixel_channels=[])
    m.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    del cfg["pixel_channels"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m2 = VideoTokenizer.from_pretrained(tmp_path)
    assert m2.cfg.pixel_channels == []
    codes = m.encode(video())
    assert torch.equal(m2.decode(codes), m.decode(codes))


@pytest.mark.parametrize(
    "quantizer,extra",
    [("fsq", {}), ("vq", dict(codebook_size=64, latent_dim=4)), ("lfq", dict(codebook_size=64))],
)
def test_each_quantizer_trains_a_step(quantizer: str, extra: dict) -> None:
    m = tiny(quantizer=quantizer, **extra).train()
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    x = video()
    recon, codes, aux, _ = m(x)
    loss = (recon - x).abs().mean() + aux
    loss.backward()
    enc_grad = m.encoder.conv_in.conv.weight.grad
    assert enc_grad is not None and enc_grad.abs().sum() > 0  # gradients pass the quantizer
    opt.step()
    assert codes.max() < m.codebook_size
    m.eval()
    assert m.decode(m.encode(x)).shape == x.shape


def test_tiny_model_overfits_a_clip() -> None:
    torch.manual_seed(0)
    m = VideoTokenizer(TokenizerConfig(channels=[16, 32], blocks=1, pixel_channels=[16]))
    x = torch.full((1, 3, 5, 32, 32), -1.0)
    x[0, 0, :, 2:9, 3:11] = 0.8  # a still red box and a moving green bar on black
    for t in range(5):
        x[0, 1, t, 18:23, 4 + 3 * t : 10 + 3 * t] = 0.6
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(400):  # ~7 s of one CPU core
        recon, _, _, _ = m(x)
        loss = (recon - x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    out = m.decode(m.encode(x), frames=5).clamp(-1, 1)
    psnr = 10 * torch.log10(4 / (out - x).square().mean())
    assert psnr > 28, f"PSNR {psnr:.1f} dB"  # 32.8 dB measured; all-black scores 15 dB


def test_fsq_levels_for_sizes() -> None:
    assert fsq_levels_for(1000) == [8, 5, 5, 5]
    assert fsq_levels_for(64000) == [8, 8, 8, 5, 5, 5]
    assert fsq_levels_for(512) == [8, 8, 8]
    with pytest.raises(ValueError, match="codebook_size=1001"):
        fsq_levels_for(1001)
    assert TokenizerConfig(codebook_size=64000).codebook_size == 64000


def test_bad_inputs_give_clear_errors() -> None:
    m = tiny(codebook_size=1000)
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        m.encode(torch.zeros(1, 4, 5, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        m.encode(torch.zeros(3, 5, 32, 32))
    with pytest.raises(ValueError, match="multiples of spatial_factor 8"):
        m.encode(torch.zeros(1, 3, 5, 30, 32))
    with pytest.raises(ValueError, match="dtype torch.uint8"):
        m.encode(torch.zeros(1, 3, 5, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 1000\)"):
        m.decode(torch.full((1, 2, 4, 4), 1000))
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 1000\)"):
        m.decode(torch.full((1, 2, 4, 4), -1))
    with pytest.raises(ValueError, match="integer codes"):
        m.decode(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="frames=9 does not fit 2 latent frames"):
        m.decode(torch.zeros(1, 2, 4, 4, dtype=torch.long), frames=9)
    with pytest.raises(ValueError, match="quantizer='pq'"):
        TokenizerConfig(quantizer="pq")
    with pytest.raises(ValueError, match="LFQ needs a power of two"):
        TokenizerConfig(quantizer="lfq", codebook_size=1000)
    with pytest.raises(ValueError, match=r"pixel_channels=\[8, 8, 8\]: at most 2 entries"):
        TokenizerConfig(pixel_channels=[8, 8, 8])


def test_fsq_entropy_loss_spreads_a_collapsed_codebook() -> None:
    """The loss is ~0 when every token has the same code, near -log(K) when codes are uniform, and
    descending it from latents that all round to one code spreads them over most of the codebook."""
    from vector_quantize_pytorch import FSQ

    from vidtok.model.quantizer import fsq_entropy_loss

    levels = [8, 5, 5]
    fsq, k = FSQ(levels=levels), 200
    assert fsq_entropy_loss(torch.zeros(512, 3), levels).abs() < 0.5  # one code: no batch entropy
    torch.manual_seed(0)
    z = (torch.rand(4096, 3) * 0.1 - 0.05).requires_grad_()
    assert fsq(z[None])[1].unique().numel() == 1
    opt = torch.optim.Adam([z], 0.05)
    for _ in range(150):
        loss = fsq_entropy_loss(z, levels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    used = fsq(z.detach()[None])[1].unique().numel()
    assert used > 0.8 * k, f"{used} of {k} codes"
    assert loss < -0.8 * torch.log(torch.tensor(float(k)))  # -4.70 measured; uniform codes: -log 200 = -5.30


def test_fsq_saturation_loss_pulls_latents_out_of_the_tanh_tail() -> None:
    """Both inputs put every token on the lowest code; only the one deep in the tanh pays, and its
    gradient points back towards the region where FSQ's tanh still passes gradients."""
    from vector_quantize_pytorch import FSQ

    from vidtok.model.quantizer import fsq_saturation_loss

    levels = [8, 5, 5]
    fsq = FSQ(levels=levels)
    deep, edge = torch.full((512, 3), -3.0, requires_grad=True), torch.full((512, 3), -1.6)
    assert fsq(deep[None])[1].unique().tolist() == fsq(edge[None])[1].unique().tolist() == [0]
    assert fsq_saturation_loss(edge, levels) == 0
    loss = fsq_saturation_loss(deep, levels)
    assert loss > 2.0  # ~(3 - 2)^2 per dimension
    loss.backward()
    assert (deep.grad < 0).all()


@pytest.mark.parametrize("weights", [dict(fsq_entropy_weight=0.1), dict(fsq_saturation_weight=10.0)])
def test_fsq_losses_set_the_training_aux_loss(weights: dict) -> None:
    x = video() * 20  # large enough to reach the tanh tail through the untrained encoder
    assert tiny(fsq_saturation_weight=0.0).train()(x)[2] == 0  # the entropy loss is off by default
    assert tiny().train()(x)[2] != 0  # the guard is on
    m = tiny(**weights)
    assert m.train()(x)[2] != 0
    assert m.eval()(x)[2] == 0  # training losses only


def test_config_saved_before_fsq_entropy_loads_without_it(tmp_path) -> None:
    """Tokenizers saved before `fsq_entropy_weight` existed load with it off and keep their fingerprint."""
    m = tiny()
    m.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    del cfg["fsq_entropy_weight"], cfg["fsq_saturation_weight"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m2 = VideoTokenizer.from_pretrained(tmp_path)
    assert m2.cfg.fsq_entropy_weight == m2.cfg.fsq_saturation_weight == 0.0
    assert m2.cfg.identity_dict() == TokenizerConfig.from_dict(cfg).identity_dict()
    assert not {"fsq_entropy_weight", "fsq_saturation_weight"} & set(m2.cfg.identity_dict())


@pytest.mark.parametrize("temporal_kernel", [1, 2])
def test_circular_conv_wraps_space_on_both_paths(temporal_kernel: int) -> None:
    torch.manual_seed(0)
    conv = CausalConv3d(4, 5, 3, temporal_kernel)
    conv.circular = True
    x = torch.randn(2, 4, 3, 8, 8)
    batched = conv(x)  # conv3d path; batch 1 on CPU takes the per-frame 2D path
    assert torch.allclose(batched, torch.cat([conv(x[i:i + 1]) for i in range(2)]), atol=1e-5)
    for dims in ((-1,), (-2,)):  # a shift across an edge is the same shift of the output
        assert torch.allclose(conv(torch.roll(x, 3, dims=dims)), torch.roll(batched, 3, dims=dims), atol=1e-5)
    conv.circular = False
    assert not torch.allclose(conv(torch.roll(x, 3, dims=-1)), torch.roll(conv(x), 3, dims=-1), atol=1e-3)


def test_circular_decoder_keeps_codes_and_fingerprint_and_wraps_decoded_frames() -> None:
    from vidtok.model.fingerprint import tokenizer_fingerprint

    torch.manual_seed(0)
    cfg = TokenizerConfig(channels=[8, 16], blocks=1, pixel_channels=[8])
    zeros = VideoTokenizer(cfg).eval()
    wrap = VideoTokenizer(TokenizerConfig.from_dict({**cfg.to_dict(), "decoder_padding": "circular"})).eval()
    wrap.load_state_dict(zeros.state_dict())
    video = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    codes = zeros.encode(video)
    assert torch.equal(wrap.encode(video), codes) and tokenizer_fingerprint(wrap) == tokenizer_fingerprint(zeros)
    shifted = torch.roll(codes, 1, dims=-1)  # one code to the right = 8 pixels
    assert torch.allclose(wrap.decode(shifted), torch.roll(wrap.decode(codes), 8, dims=-1), atol=1e-5)
    assert not torch.allclose(zeros.decode(shifted), torch.roll(zeros.decode(codes), 8, dims=-1), atol=1e-3)
    with pytest.raises(ValueError, match="decoder_padding='mirror'"):
        TokenizerConfig(decoder_padding="mirror")
