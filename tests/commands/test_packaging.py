"""The package ships what an installed command needs: every subpackage and the configs.

The last test installs the project for real (not editable) and runs its console scripts from elsewhere.
"""

import importlib.resources
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project installed NON-editably into a folder, offline, without its dependencies."""
    pytest.importorskip("setuptools", minversion="68")  # the build backend, used without build isolation
    tmp = tmp_path_factory.mktemp("install")
    # Build from a copy: pip builds in the source tree and would leave build/ and *.egg-info in the checkout.
    src = tmp / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("conf", "vidtok", "vidgpt"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    site = tmp / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--no-compile",
         "--disable-pip-version-check", "--quiet", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return site


def test_installed_commands_find_their_configs_from_any_directory(installed, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    # The copy the commands import is the installed one, not the checkout (which the venv also has, editable).
    proc = subprocess.run(
        [sys.executable, "-c",
         "import importlib.util as u; print(u.find_spec('vidgpt').origin, u.find_spec('vidtok').origin)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for origin in proc.stdout.split():
        assert Path(origin).is_relative_to(installed), f"{origin} is not the installed copy in {installed}"
    # A key only the installed configs have: seeing it proves the command read the shipped vidgpt.conf.
    with open(installed / "vidgpt" / "conf" / "generate.yaml", "a") as f:
        f.write("installed_copy: true\n")

    commands = ("vidgpt-generate", "vidtok-train")
    # both at once: each is mostly imports
    procs = [subprocess.Popen([str(installed / "bin" / c), "--cfg", "job"], cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands]
    configs = {}
    for command, proc in zip(commands, procs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{command} --cfg job failed:\n{err[-3000:]}"
        configs[command] = OmegaConf.to_container(OmegaConf.create(out))
    generate, tokenizer = configs.values()
    assert generate["installed_copy"] is True and generate["schedule"] == "model"
    assert tokenizer["tokenizer"]["quantizer"] == "fsq" and "lr" in tokenizer["recipe"]  # groups composed
    assert list(tmp_path.iterdir()) == [], "--cfg job must not create run folders"
    shipped = {p.relative_to(installed / "vidgpt" / "conf") for p in (installed / "vidgpt" / "conf").rglob("*.yaml")}
    assert {p.relative_to(ROOT / "conf") for p in (ROOT / "conf").rglob("*.yaml")} <= shipped


def test_the_shipped_models_are_installed(installed):
    for folder in ("vidgpt/pretrained/shapes/gpt", "vidgpt/pretrained/shapes/tokenizer", "vidtok/pretrained/natural"):
        for name in ("config.json", "model.safetensors"):
            assert (installed / folder / name).is_file(), f"{folder}/{name} is missing from the installed package"


def test_the_public_names_import_from_the_package_roots():
    from vidgpt import VideoGenerator, VidGPT
    from vidtok import TokenizerConfig, VideoTokenizer, read_video, write_video
    from vidtok.model.tokenizer import VideoTokenizer as Tokenizer

    assert VideoTokenizer is Tokenizer and callable(read_video) and callable(write_video)
    assert TokenizerConfig().codebook_size > 0 and VideoGenerator.from_pretrained and VidGPT.from_pretrained
