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
    """A tokenizer folder: ``name_or_path`` itself where it exists, else the shipped tokenizer of that name.

    A path wins over a name, so a folder called ``natural`` in the working directory is what it says.
    Raises FileNotFoundError naming the shipped names when neither exists.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if isinstance(name_or_path, str) and "/" not in name_or_path and (PRETRAINED_DIR / name_or_path).is_dir():
        return PRETRAINED_DIR / name_or_path
    names = ", ".join(shipped_names()) or "none"
    raise FileNotFoundError(f"tokenizer not found: {name_or_path} (not a folder, nor a shipped tokenizer: {names})")
