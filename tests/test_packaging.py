"""The package ships what an installed command needs: every subpackage and the configs."""

import importlib.resources
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_package():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("vidtok", "vidgpt")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - listed == set(), f"add these packages to pyproject.toml: {sorted(on_disk - listed)}"
    assert "vidgpt.conf" in listed


def test_configs_are_found_as_package_data():
    conf = importlib.resources.files("vidgpt.conf")
    names = {p.name for p in conf.iterdir()}
    for group in ("data", "tokenizer", "gpt", "trainer", "experiment"):
        assert group in names, f"config group {group}/ missing from vidgpt.conf"
