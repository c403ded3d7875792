import torch

from ganforge.training.step import STAT_NAMES, train_step
from helpers import make_gan


def test_discriminator_learns_to_separate_a_toy():
    # Real images: a bright square on black; G barely moves, so D should learn to tell them apart.
    gan = make_gan(name="mlp", z_dim=8, lr_g=1e-6, lr_d=2e-4, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(1)
    real_images = -torch.ones(32, 1, 28, 28)
    real_images[:, :, 8:20, 8:20] = torch.rand(32, 1, 1, 1, generator=generator)
    stats = [train_step(gan, real_images, torch.randn(32, 8)) for _ in range(40)]
    first, last = stats[0], stats[-1]
    assert last[0] < 0.5 * first[0]  # loss_d
    assert last[STAT_NAMES.index("d_real")] > 0.8 and last[STAT_NAMES.index("d_fake")] < 0.2
    assert last[STAT_NAMES.index("acc_real")] == 1 and last[STAT_NAMES.index("acc_fake")] == 1


def test_step_updates_both_networks_and_returns_detached_stats():
    gan = make_gan(z_dim=8, lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.999))
    g_before = [p.detach().clone() for p in gan.generator.parameters()]
    d_before = [p.detach().clone() for p in gan.discriminator.parameters()]
    stats = train_step(gan, torch.rand(16, 1, 28, 28) * 2 - 1, torch.randn(16, 8))
    assert stats.shape == (len(STAT_NAMES),) and not stats.requires_grad
    assert all(not torch.equal(a, b) for a, b in zip(g_before, gan.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, gan.discriminator.parameters()))


def test_lazy_r1_adds_the_penalty_every_nth_step_weighted_n_times():
    import dataclasses

    from ganforge.losses import r1_penalty

    real_images = torch.rand(8, 1, 28, 28) * 2 - 1
    z = torch.randn(8, 8)
    plain = make_gan(z_dim=8, lr_g=0, lr_d=0, betas=(0.5, 0.999))  # rates 0: every call sees the same weights
    loss_plain = train_step(plain, real_images, z)[0]
    lazy = make_gan(z_dim=8, lr_g=0, lr_d=0, betas=(0.5, 0.999))
    lazy.options = dataclasses.replace(lazy.options, r1_weight=2.0, r1_every=4)
    assert [lazy.options.regularizes(step) for step in range(6)] == [True, False, False, False, True, False]
    assert train_step(lazy, real_images, z, regularize=False)[0] == loss_plain
    images = real_images.clone().requires_grad_(True)
    penalty = r1_penalty(lazy.discriminator(images), images)
    torch.testing.assert_close(train_step(lazy, real_images, z, regularize=True)[0],
                               loss_plain + 2.0 * 4 / 2 * penalty)


def test_g_steps_updates_g_again_on_the_same_noise_against_the_updated_d():
    import dataclasses

    real_images, z = torch.rand(8, 1, 28, 28) * 2 - 1, torch.randn(8, 16)
    twice = make_gan(lr_g=1e-3, lr_d=1e-3)
    twice.options = dataclasses.replace(twice.options, g_steps=2)
    stats = train_step(twice, real_images, z)
    # The same by hand: a step with one G update, then one more on the same z.
    once = make_gan(lr_g=1e-3, lr_d=1e-3)
    train_step(once, real_images, z)
    loss_g = once.options.loss.generator(once.discriminator(once.generator(z)))
    once.optimizer_g.zero_grad(set_to_none=True)
    loss_g.backward()
    once.optimizer_g.step()
    assert {int(state["step"]) for state in twice.optimizer_g.state.values()} == {2}
    assert {int(state["step"]) for state in twice.optimizer_d.state.values()} == {1}
    for by_step, by_hand in zip(twice.generator.parameters(), once.generator.parameters()):
        torch.testing.assert_close(by_step, by_hand)
    torch.testing.assert_close(stats[STAT_NAMES.index("loss_g")], loss_g.detach())
