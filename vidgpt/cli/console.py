"""The console scripts: each imports its command only once it runs, so that Ctrl-C while the heavy imports
(torch, Lightning, Hydra) are still loading ends with one line, "interrupted", and status 130."""

from __future__ import annotations

import importlib
import sys


def _launch(module: str) -> None:
    try:
        importlib.import_module(module).main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def train_tokenizer() -> None:
    _launch("vidgpt.cli.train_tokenizer")


def pretokenize() -> None:
    _launch("vidgpt.cli.pretokenize")


def train_gpt() -> None:
    _launch("vidgpt.cli.train_gpt")


def generate() -> None:
    _launch("vidgpt.cli.generate")


def evaluate() -> None:
    _launch("vidgpt.cli.evaluate")


def studio() -> None:
    _launch("vidgpt.cli.studio")
