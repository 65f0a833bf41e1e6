"""The console scripts: each imports its command only once it runs, so that Ctrl-C while the heavy imports
(torch, Lightning, Hydra) are still loading ends with one line, "interrupted", and status 130."""

from __future__ import annotations

import importlib
import os
import signal
import sys


def _interrupted_while_loading(signum: int, frame: object) -> None:
    # a library's bare `except:` around an optional import would swallow a KeyboardInterrupt raised there, and
    # the command would run on; while loading, nothing has started: no file to finish, no state to save
    print("interrupted", file=sys.stderr, flush=True)
    os._exit(130)


def _launch(module: str) -> None:
    previous = signal.signal(signal.SIGINT, _interrupted_while_loading)
    try:
        command = importlib.import_module(module)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        status = command.main()  # Hydra commands return None, argparse ones a status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)


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


def evaluate_tokenizer() -> None:
    _launch("vidgpt.cli.evaluate_tokenizer")


def replace_decoder() -> None:
    _launch("vidgpt.cli.replace_decoder")


def learning_curve() -> None:
    _launch("vidgpt.cli.learning_curve")
