import json

import torch

from ganforge.cli import main
from ganforge.config import config_from_dict, read_yaml
from ganforge.runs import RunDir, checkpoint
from ganforge.training.step import train_step
from ganforge.training.trainer import Trainer
from helpers import small_trainer, tensors_equal, train_tiny


def test_run_folder_contents(tiny_run):
    run_dir = RunDir(tiny_run)
    records = run_dir.read_metrics("epoch")
    assert [r["epoch"] for r in records] == [1, 2] and all(r["complete"] for r in records)
    assert [r["epoch"] for r in run_dir.read_metrics("eval")] == [1, 2]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "acc_real", "acc_fake", "images_per_s"):
        assert all(isinstance(r[key], float) for r in records)
    assert all(0 <= r["d_real"] <= 1 and 0 <= r["acc_fake"] <= 1 for r in records)
    assert run_dir.sample_path(1).is_file() and run_dir.sample_path(2).is_file()
    assert list(run_dir.tensorboard_dir.glob("events.out.tfevents.*"))
    state = checkpoint.load(run_dir.last_checkpoint)
    assert state["step"] == 16 and state["generator"]["name"] == "dcgan28"
    assert state["generator"]["kwargs"] == {"z_dim": 64, "channels": 1, "image_size": 28,
                                            "num_classes": 0}
    assert "generator_ema" in state  # the default preset keeps an EMA of G
    assert state["config"]["train"]["batch_size"] == 32


def test_resume_gives_the_same_result_as_one_run(tmp_path):
    assert train_tiny(tmp_path / "whole", "--epochs", "2") == 0
    assert train_tiny(tmp_path / "split", "--epochs", "2", "--max-steps", "5") == 0
    assert checkpoint.load(tmp_path / "split/checkpoints/last.pt")["step"] == 5
    assert main(["train", "--resume", str(tmp_path / "split"), "--max-steps", "0"]) == 0

    whole = checkpoint.load(tmp_path / "whole/checkpoints/last.pt")
    split = checkpoint.load(tmp_path / "split/checkpoints/last.pt")
    for key in ("generator", "discriminator", "optimizer_g", "optimizer_d", "rng", "step"):
        assert tensors_equal(whole[key], split[key]), key
    whole_records = RunDir(tmp_path / "whole").read_metrics("epoch")
    split_records = [r for r in RunDir(tmp_path / "split").read_metrics("epoch") if r["complete"]]
    for left, right in zip(whole_records, split_records, strict=True):
        assert left["loss_d"] == right["loss_d"] and left["loss_g"] == right["loss_g"]
    # The evaluations read no training RNG: the resumed run measures the same FIDs.
    assert [r["fid"] for r in RunDir(tmp_path / "whole").read_metrics("eval")] \
        == [r["fid"] for r in RunDir(tmp_path / "split").read_metrics("eval")]


def test_resuming_a_finished_run_does_nothing(tiny_run, capsys):
    before = (tiny_run / "checkpoints/last.pt").read_bytes()
    assert main(["train", "--resume", str(tiny_run)]) == 0
    assert "already finished" in capsys.readouterr().out
    assert (tiny_run / "checkpoints/last.pt").read_bytes() == before


def test_config_is_written_before_training(tmp_path):
    out = tmp_path / "run"
    assert train_tiny(out, "--max-steps", "1", "--set", "train.lr_g=1e-4") == 0
    assert "lr_g: 0.0001" in (out / "config.yaml").read_text()
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert record["complete"] is False and record["step"] == 1


def test_a_default_run_measures_every_epoch_and_keeps_the_best_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert train_tiny(out, "--epochs", "2") == 0  # no evaluation flag: MNIST is measured by default
    assert "eval_every: 1" in (out / "config.yaml").read_text()  # resolved, as it ran
    evals = RunDir(out).read_metrics("eval")
    assert [r["epoch"] for r in evals] == [1, 2] and evals[0]["best"] is True
    assert all(r["samples"] == 200 for r in evals)
    epoch_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [f"FID {r['fid']:.2f}" in line for r, line in zip(evals, epoch_lines)] == [True, True]
    best = checkpoint.load(out / "checkpoints/best.pt")
    assert best["best_fid"] == min(r["fid"] for r in evals)
    assert checkpoint.load(out / "checkpoints/last.pt")["best_fid"] == best["best_fid"]


def test_a_checkpoint_from_cuda_graphs_resumes_with_this_machines_optimizer(tiny_run):
    """A CUDA-graph run saves Adam as capturable and unfused; on a CPU it must resume as the CPU
    runs it (fused), or its first step fails (capturable Adam wants CUDA tensors)."""
    state = checkpoint.load(tiny_run / "checkpoints/last.pt")
    for name in ("optimizer_g", "optimizer_d"):
        for group in state[name]["param_groups"]:
            group.update(capturable=True, fused=None)
    trainer = Trainer.from_config(config_from_dict(state["config"]))
    trainer.restore(state, "test")
    for optimizer in (trainer.gan.optimizer_g, trainer.gan.optimizer_d):
        assert all(group["fused"] and not group["capturable"] for group in optimizer.param_groups)
    real_images, _ = next(trainer.batches.epoch(0))
    assert torch.isfinite(train_step(trainer.gan, real_images, trainer.noise(0))).all()


def test_minibatch_std_groups_hold_one_class(monkeypatch, tmp_path):
    """With d_minibatch_std on, a conditional run's batches reach the step ordered by label, so
    each group of consecutive samples is one class (what lets D see a class drawn one way)."""
    from ganforge.training import trainer as trainer_module

    seen = []
    step = trainer_module.train_step

    def recording_step(gan, real_images, z, labels, generator_step=True, regularize=True, fresh_z=None):
        seen.append(labels.clone())
        return step(gan, real_images, z, labels, generator_step, regularize, fresh_z=fresh_z)

    monkeypatch.setattr(trainer_module, "train_step", recording_step)
    trainer = small_trainer([("model.conditional", True), ("model.d_minibatch_std", 4),
                             ("train.max_steps", 3), ("train.eval_every", 0)], preset="mnist-cgan")
    trainer.start(RunDir(tmp_path / "run"))
    trainer.fit(RunDir(tmp_path / "run"), progress=False)
    assert len(seen) == 3 and all(torch.equal(labels, labels.sort().values) for labels in seen)
    assert len(set(seen[0].tolist())) > 1


def test_an_image_budget_sets_the_runs_length_in_whole_batches(tmp_path):
    # 256 images in batches of 32: 8 steps an epoch. 300 images round up to 10 batches, and the
    # run's config says the two epochs that hold them.
    out = tmp_path / "run"
    assert train_tiny(out, "--max-images", "300", "--set", "train.eval_every=0") == 0
    assert checkpoint.load(out / "checkpoints/last.pt")["step"] == 10
    saved = config_from_dict(read_yaml(out / "config.yaml"))
    assert (saved.train.epochs, saved.train.max_images) == (2, 300)
    # The same budget at another batch size trains the same number of images (rounded up).
    trainer = small_trainer([("train.max_images", 300), ("train.batch_size", 64)])
    assert trainer.total_steps == 5 and trainer.config.train.epochs == 2
