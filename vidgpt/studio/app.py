"""The studio page (Gradio): prompt, Generate / Stop, frames as they are made, a prompt change while the
video plays, sampling controls, image-to-video, the finished mp4 and gif, and a live speed readout.

Nothing leaves the machine: Gradio's analytics are off, the theme uses the browser's own fonts (no font
requests), and there is no share link unless asked for. Tabs are served one generation at a time from a
queue (the model is one), each with its own session, so two tabs never mix their videos.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vidgpt.studio.session import MAX_PROMPT_CHARS, Session, StudioError

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no usage reports

import gradio as gr  # noqa: E402

DISPLAY = 256  # pixels: Shapes frames are 64 px, shown enlarged without smoothing


def _enlarge(frame: np.ndarray) -> np.ndarray:
    k = max(1, DISPLAY // frame.shape[0])
    return frame.repeat(k, axis=0).repeat(k, axis=1)


def _theme() -> gr.themes.Base:
    local = [gr.themes.Font("system-ui"), gr.themes.Font("sans-serif")]
    return gr.themes.Default(font=local, font_mono=[gr.themes.Font("ui-monospace"), gr.themes.Font("monospace")])


def build_app(generator: Any, out_dir: str | Path | None = None) -> gr.Blocks:
    """The page for `generator` (a VideoGenerator); finished videos are written under `out_dir`."""
    out_root = Path(out_dir or tempfile.mkdtemp(prefix="vidgpt-studio-"))
    own = generator.generation
    t = int((generator.gpt.config.tokenizer or {}).get("frames", 17))

    def new_session() -> Session:
        folder = Path(tempfile.mkdtemp(dir=out_root))
        return Session(generator, folder)

    def generate(session: Session, prompt: str, schedule: str, window: int, frame_window: int, first_window: int,
                 cfg_scale: float, later_cfg_scale: float, temperature: float, top_k: int, seed: int, frames: int, continuous: bool,
                 image: Any):
        sampling = dict(schedule=schedule, window=int(window), frame_window=int(frame_window) or None,
                        first_window=int(first_window) or None,
                        cfg_scale=float(cfg_scale), later_cfg_scale=float(later_cfg_scale),
                        temperature=float(temperature), top_k=int(top_k) or None)
        try:
            for frame, readout, files in session.run(prompt, int(frames), int(seed), bool(continuous), image,
                                                     **sampling):
                yield _enlarge(frame), readout, files
        except StudioError as e:
            raise gr.Error(str(e)) from None

    def change(session: Session, prompt: str) -> str:
        try:
            return session.change_prompt(prompt)
        except StudioError as e:
            raise gr.Error(str(e)) from None

    def stop(session: Session) -> str:
        session.stop()
        return "Stopping after this latent frame."

    with gr.Blocks(title="vidgpt studio", analytics_enabled=False) as app:
        session = gr.State(new_session)
        gr.Markdown("# vidgpt studio\nA prompt, then Generate: frames appear as their codes are made. "
                    "Change the prompt while it plays.")
        with gr.Row():
            with gr.Column(scale=1):
                prompt = gr.Textbox(label="Prompt", value="a large blue triangle moves right slowly",
                                    max_lines=2, max_length=MAX_PROMPT_CHARS)
                with gr.Row():
                    go = gr.Button("Generate", variant="primary")
                    halt = gr.Button("Stop", variant="stop")
                new_prompt = gr.Textbox(label="Change the prompt while it plays", max_lines=2,
                                        max_length=MAX_PROMPT_CHARS)
                apply = gr.Button("Change prompt")
                status = gr.Markdown()
                image = gr.Image(label="First frame (image-to-video, optional)", type="numpy", sources=["upload"])
                with gr.Accordion("Sampling", open=False):
                    schedule = gr.Radio(["diagonal", "raster"], value=own.schedule, label="Schedule")
                    window = gr.Slider(1, 8, value=own.window, step=1, label="Window (diagonal)")
                    frame_window = gr.Slider(0, 16, value=own.frame_window or 0, step=1,
                                             label="Frame window (0: the window; the grid width or more: whole frames)")
                    first_window = gr.Slider(0, 16, value=own.first_window or 0, step=1,
                                             label="First-frame window (0: the window; the grid width or more: raster)")
                    cfg_scale = gr.Slider(1.0, 5.0, value=own.cfg_scale, step=0.25,
                                          label="Guidance, first latent frame (1: off)")
                    later_cfg_scale = gr.Slider(1.0, 5.0, value=own.guidance_after_first, step=0.25,
                                                label="Guidance after it (1: off)")
                    temperature = gr.Slider(0.0, 1.5, value=own.temperature, step=0.05, label="Temperature (0: greedy)")
                    top_k = gr.Slider(0, 1000, value=own.top_k or 0, step=1, label="Top-k (0: off)")
                    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                    frames = gr.Slider(t, 1 + 4 * 64, value=t, step=4, label="Frames (beyond the trained length: "
                                                                               "a sliding window)")
                    continuous = gr.Checkbox(label="Continuous: keep going until Stop")
            with gr.Column(scale=1):
                screen = gr.Image(label="Playing", elem_id="playing", type="numpy", interactive=False, height=DISPLAY + 16,
                                  buttons=["download", "fullscreen"])  # no share-to-hub button
                readout = gr.Markdown()
                files = gr.File(label="Finished video (mp4, gif)", file_count="multiple", interactive=False)
        inputs = [session, prompt, schedule, window, frame_window, first_window, cfg_scale, later_cfg_scale,
                  temperature, top_k, seed, frames, continuous, image]
        go.click(generate, inputs, [screen, readout, files], concurrency_limit=1, concurrency_id="model")
        prompt.submit(generate, inputs, [screen, readout, files], concurrency_limit=1, concurrency_id="model")
        # steering and stopping must not wait in the generation's queue
        apply.click(change, [session, new_prompt], status, queue=False)
        halt.click(stop, session, status, queue=False)
    return app.queue(default_concurrency_limit=1)


def launch(generator: Any, port: int = 7860, host: str = "127.0.0.1", share: bool = False,
           out_dir: str | Path | None = None) -> None:
    build_app(generator, out_dir).launch(server_name=host, server_port=port, share=share, inbrowser=False,
                                         show_error=False, theme=_theme())
