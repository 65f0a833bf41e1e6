"""A screenshot of the studio after one generation with a model, for the README (docs/studio.png).

Needs the studio extra, Playwright and a Chromium (`pip install -e ".[studio]" playwright`, Debian's
`chromium`); nothing is downloaded and the page is served on 127.0.0.1 only.

    python -m tools.studio_screenshot --out docs/studio.png
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a model folder (default: the shipped model)")
    parser.add_argument("--prompt", default="a large blue triangle moves right slowly")
    parser.add_argument("--out", default="outputs/studio.png", help="the .png to write")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright

        from vidgpt.studio.app import _theme, build_app
    except ImportError as e:
        parser.error(f"{e}: pip install -e '.[studio]' playwright")
    if chromium is None:
        parser.error("no chromium on this machine (apt-get install chromium)")
    from vidgpt.generator import VideoGenerator

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_app(VideoGenerator.from_pretrained(args.model), Path(tempfile.mkdtemp(prefix="studio-")))
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, theme=_theme())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            page.goto(f"http://127.0.0.1:{port}")
            page.get_by_role("button", name="Generate").wait_for()
            page.get_by_label("Prompt", exact=True).fill(args.prompt)
            page.get_by_role("button", name="Generate").click()
            page.locator('a[download$=".mp4"]').first.wait_for(timeout=120_000)
            page.wait_for_timeout(500)  # the last frame and the readout settle
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out)
            browser.close()
    finally:
        app.close()
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
