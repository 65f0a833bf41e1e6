"""The one place that turns a plain function into a Hydra command.

Every command finds its configs in the package `vidgpt.conf` (the repo's `conf/`, shipped inside the
wheel), so an installed command works from any directory. Errors a user can fix (a missing file, a
bad value) are printed as one line and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Callable

import hydra
from omegaconf import DictConfig

CONFIG_PATH = "pkg://vidgpt.conf"

# Exceptions that mean "the input is wrong", not "the program is wrong".
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError,
               IsADirectoryError, KeyError, TypeError, FloatingPointError)


def hydra_app(config_name: str) -> Callable[[Callable[[DictConfig], object]], Callable[[], None]]:
    """Decorate ``fn(cfg)`` into a console-script ``main()`` reading ``conf/<config_name>.yaml``."""

    def wrap(fn: Callable[[DictConfig], object]) -> Callable[[], None]:
        @hydra.main(version_base=None, config_path=CONFIG_PATH, config_name=config_name)
        @functools.wraps(fn)
        def main(cfg: DictConfig) -> None:
            try:
                fn(cfg)
            except USER_ERRORS as e:
                logging.getLogger(fn.__module__).debug("user error", exc_info=True)
                msg = e.args[0] if isinstance(e, KeyError) and e.args else e
                print(f"error: {msg}", file=sys.stderr)
                sys.exit(2)
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                sys.exit(130)

        return main

    return wrap
