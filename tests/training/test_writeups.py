"""Faithful presets train as the write-ups' own code does: the course notebook's loop, written here
as the notebook writes it (its networks, weights_init, optimizers and losses; nothing from
ganforge), against `mnist-course` on the same batches and starting weights.

Both sides run in float64. In float32 the two agree to 1e-5 after one step, but Adam's first
updates are ±lr whatever a gradient's size, so the rounding of the few near-zero gradients
(BCE written as softplus, fused BatchNorm, Toom-Cook) flips their sign and the runs drift apart
by ~1e-3 in 20 steps: chaos, not a difference in what is computed."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from ganforge.training.step import STAT_NAMES, train_step
from helpers import MNIST_DIR, small_trainer

STEPS = 20


class NotebookGenerator(nn.Module):
    def __init__(self, z_dim=64, im_chan=1, hidden_dim=64):
        super().__init__()
        self.z_dim = z_dim
        self.gen = nn.Sequential(
            self.make_gen_block(z_dim, hidden_dim * 4, kernel_size=3, stride=2),
            self.make_gen_block(hidden_dim * 4, hidden_dim * 2, kernel_size=4, stride=1),
            self.make_gen_block(hidden_dim * 2, hidden_dim, kernel_size=3, stride=2),
            self.make_gen_block(hidden_dim, im_chan, kernel_size=4, stride=2, final_layer=True),
        )

    def make_gen_block(self, input_channels, output_channels, kernel_size=3, stride=2, final_layer=False):
        if not final_layer:
            return nn.Sequential(nn.ConvTranspose2d(input_channels, output_channels, kernel_size, stride),
                                 nn.BatchNorm2d(output_channels), nn.ReLU(inplace=True))
        return nn.Sequential(nn.ConvTranspose2d(input_channels, output_channels, kernel_size, stride),
                             nn.Tanh())

    def forward(self, noise):
        return self.gen(noise.view(len(noise), self.z_dim, 1, 1))


class NotebookDiscriminator(nn.Module):
    def __init__(self, im_chan=1):
        super().__init__()
        self.disc = nn.Sequential(
            nn.Conv2d(im_chan, 16, 3, 2), nn.BatchNorm2d(16), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(16, 32, 5, 2), nn.BatchNorm2d(32), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(32, 64, 5, 2), nn.BatchNorm2d(64), nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(), nn.Linear(64, 1))

    def forward(self, image):
        return self.disc(image).view(len(image), -1)


def weights_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    if isinstance(m, nn.BatchNorm2d):
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
        torch.nn.init.constant_(m.bias, 0)


def notebook_weights(ours: nn.Module, theirs: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each of our parameters beside the notebook's (the notebook's convolutions before a
    BatchNorm also have biases, which the BatchNorm subtracts again: they stay its own)."""
    mine = [p for p in ours.parameters()]
    their = [p for m in theirs.modules() for name, p in m.named_parameters(recurse=False)
             if not (name == "bias" and isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
                     and m.out_channels != 1)]
    assert [p.shape for p in mine] == [p.shape for p in their]
    return list(zip(mine, their))


def test_mnist_course_trains_as_the_notebook_loop():
    trainer = small_trainer([("data.rotation_degrees", 0.0)], preset="mnist-course")
    gan = trainer.gan
    gan.generator.double(), gan.discriminator.double()
    gen, disc = NotebookGenerator().double(), NotebookDiscriminator().double()
    gen, disc = gen.apply(weights_init), disc.apply(weights_init)
    with torch.no_grad():  # the same starting weights
        for module, notebook in ((gan.generator, gen), (gan.discriminator, disc)):
            for mine, theirs in notebook_weights(module, notebook):
                theirs.copy_(mine)
    criterion = nn.BCEWithLogitsLoss()
    gen_opt = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.99))
    disc_opt = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.99))

    batches = (batch for epoch in itertools.count() for batch in trainer.batches.epoch(epoch))
    for step in range(STEPS):
        real, _ = next(batches)
        real, fake_noise = real.double(), trainer.noise(step).double()
        torch.manual_seed(step)  # the G step's fresh noise
        stats = dict(zip(STAT_NAMES, train_step(gan, real, fake_noise).tolist()))

        # The notebook's iteration, as it writes it.
        torch.manual_seed(step)
        disc_opt.zero_grad()
        fake = gen(fake_noise)
        disc_fake_pred = disc(fake.detach())
        disc_fake_loss = criterion(disc_fake_pred, torch.zeros_like(disc_fake_pred))
        disc_real_pred = disc(real)
        disc_real_loss = criterion(disc_real_pred, torch.ones_like(disc_real_pred))
        disc_loss = (disc_fake_loss + disc_real_loss) / 2
        disc_loss.backward(retain_graph=True)
        disc_opt.step()
        gen_opt.zero_grad()
        fake_noise_2 = torch.randn(len(real), 64, dtype=torch.float64)
        fake_2 = gen(fake_noise_2)
        disc_fake_pred = disc(fake_2)
        gen_loss = criterion(disc_fake_pred, torch.ones_like(disc_fake_pred))
        gen_loss.backward()
        gen_opt.step()

        # (the step reports its losses in float32)
        assert abs(stats["loss_d"] - disc_loss.item()) < 1e-6, (step, stats, disc_loss.item())
        assert abs(stats["loss_g"] - gen_loss.item()) < 1e-6, (step, stats, gen_loss.item())
    for module, notebook in ((gan.generator, gen), (gan.discriminator, disc)):
        for mine, theirs in notebook_weights(module, notebook):
            torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=1e-6)
    # G's BatchNorm statistics (what sampling uses): the notebook's means also hold its conv
    # biases, averaged in with momentum 0.1 over the 2 forward passes of each of the 20 steps.
    carried = 1 - 0.9 ** (2 * STEPS)
    ours = [m for m in gan.generator.modules() if isinstance(m, nn.BatchNorm2d)]
    theirs = [m for m in gen.modules() if isinstance(m, nn.BatchNorm2d)]
    convs = [m for m in gen.modules() if isinstance(m, nn.ConvTranspose2d)]
    for mine, their, conv in zip(ours, theirs, convs):
        torch.testing.assert_close(mine.running_mean + carried * conv.bias.detach(), their.running_mean,
                                   atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(mine.running_var, their.running_var, atol=1e-6, rtol=1e-6)


def test_the_course_init_draws_batchnorm_weights_around_zero():
    trainer = small_trainer([], preset="mnist-course")
    weights = torch.cat([m.weight.detach() for m in trainer.gan.generator.modules()
                         if isinstance(m, nn.BatchNorm2d)])
    assert abs(weights.mean()) < 0.005 and 0.015 < weights.std() < 0.025


def test_the_experiments_reports_printout_the_learning_rates_and_a_real_grid(tmp_path, caplog):
    """train.log_lines prints every interval with D(G(z)) before and after D's update (the
    experiments report's printout); epoch lines and records carry both learning rates (the
    exercise's); TensorBoard gets a real grid beside the samples."""
    import logging

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import ganforge

    with caplog.at_level(logging.INFO, logger="ganforge"):
        run = ganforge.train("mnist-mlp", out=tmp_path / "run", epochs=1, batch_size=32, progress=False,
                             data_dir=MNIST_DIR, overrides={
                                 "data.limit": 128, "train.log_every": 2, "train.log_lines": True,
                                 "train.eval_every": 0, "train.num_samples": 16})
    lines = [record.getMessage() for record in caplog.records if record.name == "ganforge"]
    intervals = [line for line in lines if line.startswith("step ")]
    assert len(intervals) == 2 and all("before D's update" in line for line in intervals), lines
    assert any(line.startswith("epoch 1/1") and "lr G 0.0001 D 5e-05" in line for line in lines), lines
    (epoch,) = run.metrics("epoch")
    assert (epoch["lr_g"], epoch["lr_d"]) == (1e-4, 5e-5) and 0 <= epoch["d_fake_after"] <= 1
    board = EventAccumulator(str(run.root / "tensorboard")).Reload()
    assert {"real", "samples"} <= set(board.Tags()["images"])
