"""Runs trained together: the stacked networks compute what each run's own do, and a run trained
in a stack of four ends where it ends alone. Float64 for the comparison: in float32 two
computations that round differently (a grouped convolution against four, ganforge's CPU kernels
against PyTorch's) drift apart in a GAN's chaotic dynamics within tens of steps, here as between
two devices; in float64 the drift stays near 1e-10."""

import pytest
import torch

from ganforge.runs import RunDir, checkpoint
from ganforge.training.rng import rng_state
from ganforge.training.together import RunTogether, Stack, StackedModule, plan, train_together
from helpers import MNIST_DIR, small_trainer, tensors_equal

# A small, fast dcgan; every run differs from the first in one per-run setting.
SMALL = [("model.name", "dcgan"), ("model.ngf", 4), ("model.ndf", 4), ("model.z_dim", 16),
         ("train.batch_size", 8), ("data.limit", 80), ("train.eval_every", 0), ("train.num_samples", 16),
         ("train.max_steps", 100), ("train.epochs", 10)]
VARIANTS = [[("train.seed", 0)], [("train.seed", 1), ("train.lr_d", 3e-4), ("train.betas_g", [0.0, 0.99])],
            [("train.seed", 2), ("loss.real_label", 0.9), ("loss.fake_label", 0.1),
             ("train.optimizer_d", "sgd"), ("train.lr_d", 0.01), ("train.sgd_momentum", 0.5)],
            [("train.seed", 3), ("train.ema_half_life", 500), ("data.rotation_degrees", 10.0)]]


@pytest.fixture
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def build(variant, folder):
    trainer = small_trainer([*SMALL, *variant], preset="mnist-dcgan")
    run_dir = RunDir(folder)
    trainer.start(run_dir)
    return trainer, run_dir


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_stacked_module_computes_each_runs_forward_and_holds_their_weights(vectorized):
    trainers = [small_trainer([*SMALL, ("train.seed", seed)], preset="mnist-dcgan") for seed in range(3)]
    generators = [trainer.gan.generator for trainer in trainers]
    z = torch.randn(3, 8, 16)
    with torch.no_grad():
        expected = torch.stack([generator(noise) for generator, noise in zip(generators, z)])
        stacked = StackedModule(generators, vectorized)
        torch.testing.assert_close(stacked(z), expected)
        # Each run's module now reads its slice of the stack: a change there is a change here.
        stacked.stacked[0][1].add_(1.0)
        assert torch.equal(next(generators[1].parameters()), stacked.stacked[0][1])


def test_runs_stack_unless_their_steps_differ_in_shape_or_draw_random_numbers():
    trainers = [small_trainer([*SMALL, *variant], preset="mnist-dcgan") for variant in VARIANTS]
    trainers.append(small_trainer([*SMALL, ("train.batch_size", 32)], preset="mnist-dcgan"))
    trainers.append(small_trainer([*SMALL, ("loss.instance_noise", 0.1)], preset="mnist-dcgan"))
    assert plan(trainers, "stack") == [[0, 1, 2, 3], [4], [5]]
    assert plan(trainers, "turns") == [[index] for index in range(6)]


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_run_trained_in_a_stack_of_four_equals_the_run_trained_alone(tmp_path, float64, vectorized):
    runs = []
    for index, variant in enumerate(VARIANTS):
        trainer, run_dir = build(variant, tmp_path / f"together-{index}")
        runs.append(RunTogether(trainer, run_dir, rng_state()))
    outcomes = train_together(runs, mode="stack", vectorized=vectorized, progress=False,
                              log=lambda line: None)
    assert [outcome.step for outcome in outcomes] == [100] * 4
    for index, variant in enumerate(VARIANTS):
        trainer, run_dir = build(variant, tmp_path / f"alone-{index}")
        trainer.fit(run_dir, progress=False, log=lambda line: None)
        together = checkpoint.load(tmp_path / f"together-{index}/checkpoints/last.pt")
        alone = checkpoint.load(run_dir.last_checkpoint)
        for key in ("generator", "discriminator", *(["generator_ema"] if index == 3 else [])):
            torch.testing.assert_close(together[key]["state_dict"], alone[key]["state_dict"],
                                       rtol=1e-7, atol=1e-8)
        # (run 2's D steps by SGD with momentum: its buffer is a sum of gradients, the most
        # sensitive number here)
        torch.testing.assert_close(together["optimizer_d"]["state"], alone["optimizer_d"]["state"],
                                   rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(together["epoch_stats"], alone["epoch_stats"], rtol=1e-7, atol=1e-9)
        records = [RunDir(tmp_path / f"{kind}-{index}").intervals() for kind in ("together", "alone")]
        assert [record["loss_d"] for record in records[0]] == \
            pytest.approx([record["loss_d"] for record in records[1]], rel=1e-6)  # (losses in float32)


@pytest.mark.parametrize("vectorized", [True, False])
def test_the_stacked_step_reads_nothing_on_the_host(monkeypatch, vectorized):
    """What a CUDA graph of the stacked step needs, traced as tests/training/test_step_trace.py
    traces a run's step: no host reads or copies, the same ops every step, state kept in place."""
    from test_step_trace import traced

    trainers = [small_trainer([*SMALL, *variant], preset="mnist-dcgan") for variant in VARIANTS]
    stack = Stack(trainers, vectorized)
    recorded = []
    for step in range(3):
        requests = [trainer.step_request(step, *list(trainer.batches.epoch(0))[step])
                    for trainer in trainers]
        if not step:
            stack.step(requests)  # (the optimizers make their state)
            state = [*stack.gan.generator.stacked, *stack.gan.discriminator.stacked,
                     *stack.gan.ema.model.stacked, stack.gan.ema.images_seen,
                     *(tensor for optimizer in stack.optimizers for run in optimizer.optimizers
                       for tensors in run.state.values() for tensor in tensors.values())]
            storages = [tensor.untyped_storage().data_ptr() for tensor in state]
            continue
        with traced(monkeypatch) as trace:
            stack.step(requests)
        assert trace.problems == []
        recorded.append(trace.ops)
    assert recorded[0] == recorded[1]
    assert [tensor.untyped_storage().data_ptr() for tensor in state] == storages


def test_runs_trained_together_resume_exactly(tmp_path):
    import ganforge

    def train(folder, epochs):
        configs = [ganforge.make_config("mnist-dcgan", overrides=dict(SMALL), seed=seed, epochs=epochs,
                                        max_steps=0, data_dir=MNIST_DIR) for seed in (0, 1)]
        return ganforge.train_together([(config, tmp_path / folder / f"seed{config.train.seed}")
                                        for config in configs], mode="stack", progress=False)

    train("whole", 2)
    train("split", 1)
    runs = train("split", 2)  # (the folders have checkpoints: resumed)
    assert [run.step for run in runs] == [20, 20]
    for seed in (0, 1):
        whole = checkpoint.load(tmp_path / f"whole/seed{seed}/checkpoints/last.pt")
        split = checkpoint.load(tmp_path / f"split/seed{seed}/checkpoints/last.pt")
        for key in ("generator", "discriminator", "optimizer_g", "optimizer_d", "step"):
            assert tensors_equal(whole[key], split[key]), (seed, key)
