"""The one place that turns a plain function into a command: a Hydra one (`hydra_app`) or an argparse one
(`argparse_app`), both with the same conventions.

Every command finds its configs in the package `vidgpt.conf` (the repo's `conf/`, shipped inside the
wheel), so an installed command works from any directory. Errors a user can fix (a missing file, a
bad value, an unknown config key or option) are printed as one line and exit with status 2 instead of
a traceback (HYDRA_FULL_ERROR=1 keeps Hydra's own reports); so is a command-line flag the parser does not know. In a sweep (`-m`), such an error ends only
its job: the sweep goes on, and the command exits with status 2 at the end, naming the failed jobs.
"""

from __future__ import annotations

import argparse
import errno
import functools
import logging
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, InstantiationException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vidgpt.cli.options import ABSENT, check_options
from vidtok.io.errors import WriteError

CONFIG_PATH = "pkg://vidgpt.conf"
ERROR_FILE = "error.txt"  # in a sweep job's folder: why that job stopped
FULL_ERROR = "HYDRA_FULL_ERROR"

# Exceptions that mean "the input is wrong", not "the program is wrong". Hydra and OmegaConf errors
# are config errors (unknown key or option, missing mandatory value, bad interpolation).
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError,
               IsADirectoryError, KeyError, TypeError, FloatingPointError, WriteError, HydraException,
               OmegaConfBaseException)
# An OSError with one of these is the machine refusing a write (full disk, read-only place), not a bug.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)
# Lightning's own error for a Trainer argument it cannot use (devices=0, say), matched by name: the
# commands that never train do not import Lightning.
USER_ERROR_NAMES = ("MisconfigurationException",)
# Keys that were renamed or folded into another: a command line that still names one is told the new way.
RENAMED = {
    "frame_overlap": "frame_overlap is gone: frame_window says it (frame_window=null: the window; "
                     "the code grid's width or more, e.g. frame_window=64: whole frames in turn)",
    "recipe.diagonal_frame_overlap": "recipe.diagonal_frame_overlap is gone: recipe.diagonal_frame_window says it "
                                     "(null: the window; the code grid's width or more: whole frames in turn)",
}


def user_message(e: BaseException) -> str | None:
    """One line for an error the user can fix, None for a program error (which keeps its traceback)."""
    if isinstance(e, InstantiationException):
        # hydra.utils.instantiate wraps the constructor's own error; that error is what the user can act on
        cause = user_message(e.__cause__) if e.__cause__ is not None else one_line(str(e))
        key = re.search(r"full_key: (\S+)", str(e))
        # Hydra writes a list item's key without its separator (datasets0): give it back the dot the
        # command line uses (data.train.datasets.0.folders=...)
        where = re.sub(r"(?<=[A-Za-z_])(\d+)(?=\.|$)", r".\1", key.group(1)) if key else None
        return f"{where}: {cause}" if where and cause else cause
    if isinstance(e, OSError) and not isinstance(e, USER_ERRORS) and e.errno in WRITE_ERRNOS:
        where = f" {e.filename}" if e.filename else ""
        return f"cannot write{where}: {e.strerror or e}"
    if type(e).__name__ in USER_ERROR_NAMES:
        return one_line(str(e))
    if not isinstance(e, USER_ERRORS):
        return None
    if isinstance(e, OmegaConfBaseException):  # the first line names the key; the rest repeats it
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    text = e.args[0] if isinstance(e, KeyError) and e.args else e
    message = one_line(str(text))
    if isinstance(e, OverrideParseException):
        override = str(e.override)
        key, eq, value = override.partition("=")
        if eq and not value.isascii() and not value.startswith(("'", '"')):  # Hydra's lexer reads ASCII unquoted
            return (f"cannot parse {override!r}: a value with letters beyond ASCII needs quotes, "
                    f"""write '{key}="{value}"' (the shell's quotes around Hydra's)""")
        message = f"cannot parse {override!r}: {message}"
    if isinstance(e, HydraException) and isinstance(e.__cause__, OmegaConfBaseException):
        message += f" ({user_message(e.__cause__)})"
    renamed = re.search(r"override '\+?([\w.]+)'", message)
    if renamed and renamed.group(1) in RENAMED:
        return RENAMED[renamed.group(1)]
    return message


def one_line(text: str) -> str:
    """Hydra's multi-line messages as one line: option lists joined by commas, search paths dropped."""
    out = ""
    for line in text.split("Config search path:")[0].splitlines():
        item = line.strip()
        if not item:
            continue
        if line.startswith("\t") and out:  # an entry of a list of available options
            out += (" " if out.endswith(":") else ", ") + item
        else:
            out += ("" if not out else " " if out.endswith((".", ":")) else "; ") + item
    return out


def _exit_user_error(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _exit_interrupted() -> NoReturn:
    print("interrupted", file=sys.stderr)
    sys.exit(130)


def _user_error(e: Exception) -> str:
    """The one line of a user error; a program error is raised again, keeping its traceback."""
    message = user_message(e)
    if message is None:
        raise e
    return message


def _check_renamed(cfg: DictConfig) -> None:
    """A renamed key added with `+key=...` would be taken in silence and do nothing: refuse it too."""
    for key, message in RENAMED.items():
        if OmegaConf.select(cfg, key, default=ABSENT, throw_on_missing=False) is not ABSENT:
            raise ValueError(message)


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """Hydra's own flags are parsed with argparse, whose usage errors (`--foo`) print the usage over several
    lines: have its parser report them as one line instead."""
    module = sys.modules["hydra.main"]
    original = module.get_args_parser

    def parser() -> argparse.ArgumentParser:
        p = original()
        p.error = lambda message: _exit_user_error(f"{message} (see {p.prog} --help)")  # type: ignore[method-assign]
        return p

    module.get_args_parser = parser
    try:
        yield
    finally:
        module.get_args_parser = original


def _in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _job_failed(message: str) -> str:
    """Report a failed sweep job and leave `error.txt` in its folder (the sweep summary shows it)."""
    job = HydraConfig.get()
    print(f"error: job {job.job.num} ({' '.join(job.overrides.task)}): {message}", file=sys.stderr)
    (Path(job.runtime.output_dir) / ERROR_FILE).write_text(message + "\n")
    return f"job {job.job.num}"


def hydra_app(config_name: str, options: dict | None = None) -> Callable[[Callable[[DictConfig], object]], Callable[[], None]]:
    """Decorate ``fn(cfg)`` into a console-script ``main()`` reading ``conf/<config_name>.yaml``.

    ``options``: {key: rule} (vidgpt.cli.options), checked before ``fn`` runs; every number of the
    config is also checked to be finite.
    """

    def wrap(fn: Callable[[DictConfig], object]) -> Callable[[], None]:
        started: list[bool] = []  # whether Hydra got as far as calling `fn` in this launch
        failed: list[str] = []  # the sweep jobs that stopped on a user error, one line each

        @hydra.main(version_base=None, config_path=CONFIG_PATH, config_name=config_name)
        @functools.wraps(fn)
        def run(cfg: DictConfig) -> object:
            started.append(True)
            try:
                _check_renamed(cfg)
                check_options(cfg, options or {})
                return fn(cfg)  # a sweeper may need it (Optuna optimises what the training commands return)
            except KeyboardInterrupt:
                _exit_interrupted()
            except Exception as e:
                message = _user_error(e)
                logging.getLogger(fn.__module__).debug("user error", exc_info=True)
                if _in_sweep():  # one bad point of a sweep should not cost the points after it
                    failed.append(_job_failed(message))
                    return float("nan")  # what an optimising sweeper (Optuna) records as a failed trial
                _exit_user_error(message)

        @functools.wraps(fn)
        def main() -> None:
            if os.environ.get(FULL_ERROR) == "1":  # the user asked for Hydra's tracebacks
                return run()
            # Hydra prints its own config errors over several lines and exits 1; asked to raise them
            # instead, it lets us print them like every other user error.
            os.environ[FULL_ERROR] = "1"
            started.clear()
            failed.clear()
            try:
                with _one_line_usage_errors():
                    run()
                if failed:
                    _exit_user_error(f"{len(failed)} sweep job(s) failed: {', '.join(failed)} (why: {ERROR_FILE} in each job's folder)")
            except KeyboardInterrupt:  # while Hydra was still composing the config
                _exit_interrupted()
            except (HydraException, OmegaConfBaseException) as e:
                _exit_user_error(user_message(e) or one_line(str(e)))
            except OSError as e:
                if started:  # raised by `fn`, and not a user error: a program error keeps its traceback
                    raise
                _exit_user_error(f"cannot write the run folder: {e}")  # Hydra makes it before `fn` runs
            except ValueError as e:
                # Hydra's log file in the run folder: logging reports its OSError as "Unable to configure handler"
                if started or not isinstance(e.__cause__, OSError):
                    raise
                _exit_user_error(f"cannot write the run folder: {e.__cause__}")
            finally:
                os.environ.pop(FULL_ERROR, None)

        return main

    return wrap



class CommandParser(argparse.ArgumentParser):
    """argparse for the commands that are not Hydra apps: a usage error is one line, `error: ...`, status 2."""

    def __init__(self, prog: str, doc: str, **kwargs: Any) -> None:
        # the description is the docstring's first paragraph (its first line may end mid-sentence)
        super().__init__(prog=prog, description=" ".join(doc.strip().split("\n\n")[0].split()), **kwargs)

    def error(self, message: str) -> NoReturn:
        _exit_user_error(f"{message} (see {self.prog} --help)")


def argparse_app(parser: argparse.ArgumentParser, options: dict | None = None
                 ) -> Callable[[Callable[[argparse.Namespace], int | None]], Callable[..., int]]:
    """Decorate ``fn(args)`` into a console-script ``main(argv=None) -> status`` parsing ``parser``'s options.

    ``options``: {"--option": rule} (vidgpt.cli.options), checked before ``fn`` runs. As in `hydra_app`, a
    user error (a bad value, a missing file, a failed write) is one line and status 2; Ctrl-C is status 130.
    """

    def wrap(fn: Callable[[argparse.Namespace], int | None]) -> Callable[..., int]:
        @functools.wraps(fn)
        def main(argv: list[str] | None = None) -> int:
            args = parser.parse_args(argv)
            try:
                for option, rule in (options or {}).items():
                    rule.check(option, getattr(args, option.lstrip("-").replace("-", "_")))
                return fn(args) or 0
            except KeyboardInterrupt:
                _exit_interrupted()
            except Exception as e:
                _exit_user_error(_user_error(e))

        return main

    return wrap
