"""Every config composes, and the config files stay in step with the code they configure."""

import dataclasses
import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from vidgpt.train.module import GPTModule
from vidtok.model import TokenizerConfig
from vidtok.train.module import TrainConfig

CONF = Path(__file__).resolve().parents[2] / "conf"
COMMANDS = ("train_tokenizer", "train_gpt", "pretokenize", "generate", "evaluate")
REQUIRED = {"train_gpt": ["tokenizer_dir=x"], "pretokenize": ["tokenizer_dir=x", "out_dir=y"]}


def _compose(name, overrides=()):
    with initialize_config_module("vidgpt.conf", version_base=None):
        return compose(name, overrides=list(overrides), return_hydra_config=True)


def _options(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("command", COMMANDS)
def test_command_config_composes_and_resolves(command):
    cfg = _compose(command, REQUIRED.get(command, []))
    OmegaConf.resolve(cfg)  # every interpolation resolves


@pytest.mark.parametrize("group,command", [("data", "train_tokenizer"), ("tokenizer", "train_tokenizer"),
                                           ("trainer", "train_tokenizer"), ("gpt", "train_gpt")])
def test_every_group_option_composes(group, command):
    for option in _options(group):
        overrides = [*REQUIRED.get(command, []), f"{group}={option}"]
        if option == "folder":
            overrides.append("data.root=/tmp")
        OmegaConf.resolve(_compose(command, overrides))


def test_every_experiment_composes_with_its_stage():
    experiments = _options("experiment")
    assert {"tokenizer_shapes", "gpt_shapes", "tokenizer_own_videos", "gpt_own_videos"} <= set(experiments)
    for name in experiments:
        command = "train_tokenizer" if name.startswith("tokenizer_") else "train_gpt"
        cfg = _compose(command, [f"experiment={name}", "data.root=/tmp"] if "own" in name else [f"experiment={name}"])
        OmegaConf.resolve(cfg)


def test_tokenizer_presets_build():
    for option in _options("tokenizer"):
        cfg = _compose("train_tokenizer", [f"tokenizer={option}"])
        TokenizerConfig.from_dict(OmegaConf.to_container(cfg.tokenizer))


def test_cpu_preset_is_the_dataclass_default():
    cfg = OmegaConf.to_container(_compose("train_tokenizer").tokenizer)
    assert cfg.keys() == TokenizerConfig().to_dict().keys()
    assert TokenizerConfig.from_dict(cfg) == TokenizerConfig()


def test_recipes_name_every_option_with_the_code_defaults():
    recipe = OmegaConf.to_container(_compose("train_tokenizer").recipe, resolve=True)
    for field in dataclasses.fields(TrainConfig):
        assert field.name in recipe, f"conf/train_tokenizer.yaml recipe lacks {field.name}"
    assert TrainConfig(**recipe)
    recipe = OmegaConf.to_container(_compose("train_gpt", REQUIRED["train_gpt"]).recipe)
    params = inspect.signature(GPTModule.__init__).parameters
    assert set(recipe) == set(params) - {"self", "model", "tokenizer"}
    for name, value in recipe.items():
        default = params[name].default
        assert value == (list(default) if isinstance(default, tuple) else default), name


def test_data_configs_build_datasets():
    for option in ("shapes", "shapes_all", "mixture"):
        cfg = _compose("train_tokenizer", [f"data={option}", "data.train.length=4"])
        ds = instantiate(cfg.data.train)
        assert ds[0]["video"].shape == (3, 17, 64, 64)


def test_trainer_presets_are_valid_trainer_arguments():
    import lightning as L

    params = set(inspect.signature(L.Trainer.__init__).parameters)
    for option in _options("trainer"):
        cfg = _compose("train_tokenizer", [f"trainer={option}"])
        assert set(cfg.trainer) <= params, f"trainer/{option}.yaml: {set(cfg.trainer) - params}"
