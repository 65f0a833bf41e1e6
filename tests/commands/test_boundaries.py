"""Dependencies point one way: io, data, the Shapes world, tokenizer, metrics, GPT, sampling, generation,
training, commands. Inference never imports training code, and the networks know nothing of Lightning or Hydra."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each package's rank: a module may import only its own package and packages of lower rank.
RANKS = {
    "vidtok.io": 0,
    "vidtok.data": 1,
    "vidtok.shapes": 2,  # the Shapes world: renderer, dataset, reader, evaluation
    "vidtok.model": 3,
    "vidtok.eval": 4,  # generic metrics, and the tokenizer scored on Shapes clips
    "vidgpt.model": 5,
    "vidgpt.sampler": 6,
    "vidgpt.generator": 7,
    "vidgpt.samples": 7,
    "vidgpt.evaluate": 7,
    "vidtok.train": 8,
    "vidgpt.train": 9,
    "vidgpt.studio": 10,  # the browser page: a user interface, like the commands
    "vidgpt.cli": 11,
    "vidtok": 12,  # the package roots re-export their public names
    "vidgpt": 12,
}
NETWORKS = ("vidtok.model", "vidgpt.model")
FRAMEWORKS = ("lightning", "pytorch_lightning", "hydra", "omegaconf")


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if ".".join(parts[:2]) in RANKS else parts[0]


def imports():
    """(importing module, imported module) for every import in vidtok/ and vidgpt/, relative ones resolved."""
    for path in sorted(ROOT.glob("vid*/**/*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        module = ".".join(parts if parts[-1] != "__init__" else parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                continue
            for name in names:
                yield module, name


def test_the_import_graph_points_one_way():
    wrong = []
    for module, name in imports():
        if not name.startswith(("vidtok", "vidgpt")):
            continue
        src, dst = package_of(module), package_of(name)
        if src != dst and RANKS[dst] >= RANKS[src]:
            wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_networks_are_free_of_lightning_and_hydra():
    wrong = [f"{m} imports {n}" for m, n in imports()
             if package_of(m) in NETWORKS and n.split(".")[0] in FRAMEWORKS]
    assert not wrong, "\n".join(wrong)


def test_generating_loads_no_training_code():
    """What a user's `generate` process loads: the generator, its model and sampler, and no trainer."""
    code = ("import sys, vidgpt.generator, vidgpt.samples; "
            "print(' '.join(m for m in sys.modules if m.startswith(('lightning', 'pytorch_lightning', 'hydra', "
            "'vidgpt.train', 'vidtok.train'))))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == []
