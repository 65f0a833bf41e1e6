"""Tokenizers that ship inside the package, loadable by name: ``VideoTokenizer.from_pretrained("natural")``."""

from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"


def shipped_names() -> list[str]:
    """Names of the tokenizers in `PRETRAINED_DIR` (folders holding a config.json)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def resolve(name_or_path: str | Path) -> Path:
    """A tokenizer folder: ``name_or_path`` itself where it exists or names no shipped tokenizer, else the
    shipped tokenizer of that name. A path wins over a name, so a folder called ``natural`` in the working
    directory is what it says; a path that does not exist comes back as it is, for the caller to report."""
    path = Path(name_or_path).expanduser()
    if not path.exists() and isinstance(name_or_path, str) and name_or_path in shipped_names():
        return PRETRAINED_DIR / name_or_path
    return path
