"""Data-parallel training on 2 CPU processes (gloo), launched the way the README says: torchrun.

Each stage's command runs under `torchrun --nproc_per_node 2 ... trainer=ddp_cpu`; a dataset that notes
which items each rank's DataLoader fetched shows that the ranks split the data instead of both
training on all of it. Slow (two processes importing torch and Lightning on a small machine):
`make test-slow`.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

# Importable by the ranks from the work folder: Shapes that records the DataLoader's batched fetches
# (not the ad hoc `ds[0]` reads the training code makes to learn the clip shape).
PROBE = '''
import os
from pathlib import Path

from vidtok.shapes.world import ShapesDataset


class RecordingShapes(ShapesDataset):
    def __getitems__(self, indices):
        with open(Path(os.environ["PROBE_DIR"]) / f"rank{os.environ['RANK']}.txt", "a") as f:
            f.write("".join(f"{i}\\n" for i in indices))
        return [self[i] for i in indices]
'''
ITEMS, BATCH, STEPS = 8, 2, 2  # 8 items over 2 ranks: 2 batches of 2 per rank per epoch
TINY = [f"data.batch_size={BATCH}", "data.num_workers=0", f"data.train.length={ITEMS}", "data.val.length=2",
        "data.train._target_=ddp_probe.RecordingShapes", "frames=9", "size=32", f"trainer.max_steps={STEPS}",
        "trainer.limit_val_batches=0", "trainer.log_every_n_steps=1", "trainer.enable_model_summary=false",
        "trainer.enable_progress_bar=false"]
STAGES = {
    "tokenizer": ("vidgpt.cli.train_tokenizer", ["tokenizer.channels=[8,16]", "tokenizer.pixel_channels=[8]", "tokenizer.blocks=1",
                                                 "tokenizer.codebook_size=64"]),
    "gpt": ("vidgpt.cli.train_gpt", ["gpt=tiny", "gpt.prompt_length=16", "gpt.text_vocab_size=300",
                                     "recipe.warmup_steps=1"]),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_two_cpu_processes_train_on_disjoint_halves(stage, tmp_path, tiny_model_dir):
    module, args = STAGES[stage]
    if stage == "gpt":
        args = [*args, f"tokenizer_dir={tiny_model_dir / 'tokenizer'}"]
    (tmp_path / "ddp_probe.py").write_text(PROBE)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "PROBE_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", module,
         "trainer=ddp_cpu", *TINY, *args, f"hydra.run.dir={run}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"torchrun {module} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    assert torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == STEPS
    seen = [[int(i) for i in (tmp_path / f"rank{r}.txt").read_text().split()] for r in (0, 1)]
    assert [len(s) for s in seen] == [STEPS * BATCH] * 2
    assert set(seen[0]).isdisjoint(seen[1]) and set(seen[0]) | set(seen[1]) == set(range(ITEMS))
    # one process speaks for the launch
    assert len([line for line in proc.stdout.splitlines() if line.startswith(("model folder:", "tokenizer:"))]) == 1
