"""The studio's session (no browser): streamed frames, prompt changes while it plays, stop, saved files,
and bad input as one message."""

from __future__ import annotations

import numpy as np
import pytest

from vidgpt.generator import VideoGenerator
from vidgpt.studio.session import MAX_PROMPT_CHARS, Session, StudioError, check_image
from vidtok.io import read_video

PROMPT, OTHER = "a large blue triangle moves right slowly", "a small red circle moves up quickly"
SAMPLING = dict(schedule="diagonal", window=1, frame_window=4, cfg_scale=2.0, temperature=0.4, top_k=100)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal but for float rounding: the stream decodes latent frame by latent frame, generate() all at once."""
    return a.shape == b.shape and int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1


@pytest.fixture(scope="module")
def generator(tiny_model_dir) -> VideoGenerator:
    return VideoGenerator.from_pretrained(tiny_model_dir)


def test_frames_stream_one_by_one_then_the_files(generator, tmp_path):
    session = Session(generator, tmp_path)
    out = list(session.run(PROMPT, frames=9, seed=3, **SAMPLING))
    *playing, (last, readout, files) = out
    assert len(playing) == 9 and all(f is None for _, _, f in playing)
    assert "frames/s" in readout and "x playback" in readout and "tokens/s" in readout
    want = generator.generate(PROMPT, frames=9, seed=3, **SAMPLING).videos[0]
    assert _same(np.stack([frame for frame, _, _ in playing]), want)  # what plays is the video
    assert [f.rsplit(".", 1)[1] for f in files] == ["mp4", "gif"]
    assert read_video(files[0]).shape == want.shape


def test_a_prompt_change_while_playing_is_the_change_made_up_front(generator, tmp_path):
    session = Session(generator, tmp_path)
    run = session.run(PROMPT, frames=9, seed=5, **SAMPLING)
    first, _, _ = next(run)  # latent frame 0 (pixel frame 0) is out
    assert "latent frame 1" in session.change_prompt(OTHER)
    frames = [first] + [f for f, _, files in run if files is None]
    want = generator.generate(PROMPT, frames=9, seed=5, changes={1: OTHER}, **SAMPLING).videos[0]
    assert _same(np.stack(frames), want)
    assert session.changes == [(1, OTHER)]


def test_stop_ends_after_the_latent_frame_and_keeps_what_was_made(generator, tmp_path):
    session = Session(generator, tmp_path)
    run = session.run(PROMPT, frames=9, seed=1, continuous=True, **SAMPLING)
    for _ in range(5):  # latent frames 0 and 1: 1 + 4 pixel frames
        next(run)
    session.stop()
    rest = list(run)
    assert len(rest) == 1 and "(stopped)" in rest[0][1]
    assert read_video(rest[0][2][0]).shape[0] == 5


@pytest.mark.parametrize("call,message", [
    (lambda s: next(s.run("  ", 9, 0)), "The prompt is empty"),
    (lambda s: next(s.run("x" * (MAX_PROMPT_CHARS + 1), 9, 0)), f"at most {MAX_PROMPT_CHARS}"),
    (lambda s: next(s.run(PROMPT, 9, 0, image=np.zeros((4, 5)))), "not a picture"),
    (lambda s: next(s.run(PROMPT, 9, 0, image="not an image")), "not a picture"),
    (lambda s: next(s.run(PROMPT, 0, 0)), "frames=0: must be an integer >= 1"),  # the generator's own message
    (lambda s: s.change_prompt(OTHER), "Nothing is playing"),
    (lambda s: s.change_prompt(""), "The new prompt is empty"),
])
def test_bad_input_is_one_message_for_the_page(generator, tmp_path, call, message):
    with pytest.raises(StudioError, match=message):
        call(Session(generator, tmp_path))


def test_an_uploaded_picture_starts_the_video(generator, tmp_path):
    picture = np.zeros((48, 48, 4), np.uint8)  # RGBA, another size: converted and resized
    picture[10:20, 10:20] = 255
    assert check_image(picture).shape == (48, 48, 3)
    *_, (_, _, files) = Session(generator, tmp_path).run(PROMPT, frames=9, seed=0, image=picture, **SAMPLING)
    assert read_video(files[0]).shape[0] == 9
