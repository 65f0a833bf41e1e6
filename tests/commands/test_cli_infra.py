"""Run folders, resume resolution and atomic checkpoints: the pieces every training command shares."""

import csv
import os

import lightning as L
import pytest
import torch

from vidgpt.cli.runs import resume_checkpoint
from vidtok.train.trainer import AtomicCheckpointIO, build_trainer


def test_resume_none_means_fresh_run():
    assert resume_checkpoint(None) is None
    assert resume_checkpoint("") is None


def test_resume_from_run_folder_and_from_file(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    torch.save({"step": 1}, ckpt)
    assert resume_checkpoint(str(tmp_path)) == str(ckpt)
    assert resume_checkpoint(str(ckpt)) == str(ckpt)


def test_resume_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoints/last.ckpt"):
        resume_checkpoint(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nope"):
        resume_checkpoint(str(tmp_path / "nope"))


def test_atomic_checkpoint_leaves_old_file_when_save_fails(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": 1}, path)
    assert torch.load(path, weights_only=True)["step"] == 1

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        io.save_checkpoint({"step": 2, "bad": Unpicklable()}, path)
    assert torch.load(path, weights_only=True)["step"] == 1  # the old checkpoint survives intact
    assert os.listdir(tmp_path) == ["last.ckpt"]  # and no temporary file is left behind


class _Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(2, 1)

    def training_step(self, batch, _):
        return self.w(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_trainer_writes_logs_and_last_checkpoint(tmp_path):
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(16, 2)), batch_size=4)
    trainer = build_trainer(
        dict(max_steps=6, accelerator="cpu", enable_model_summary=False, log_every_n_steps=1),
        tmp_path, checkpoint_every_n_steps=2,
    )
    trainer.fit(_Tiny(), data)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 6
    assert (tmp_path / "logs" / "metrics.csv").is_file()
    assert any((tmp_path / "tensorboard").iterdir())


def test_resumed_run_keeps_the_metrics_history(tmp_path):
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(16, 2)), batch_size=4)
    kw = dict(accelerator="cpu", enable_model_summary=False, log_every_n_steps=1, enable_progress_bar=False)
    build_trainer(dict(max_steps=4, **kw), tmp_path, checkpoint_every_n_steps=2).fit(_Tiny(), data)
    build_trainer(dict(max_steps=8, **kw), tmp_path, checkpoint_every_n_steps=2).fit(
        _Tiny(), data, ckpt_path=str(tmp_path / "checkpoints" / "last.ckpt"))
    with open(tmp_path / "logs" / "metrics.csv", newline="") as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    assert min(steps) < 4 and max(steps) >= 6  # both launches' rows, in one file with one header
