"""The CUDA-graph step: its bookkeeping (static buffers, warm-up undone) run eagerly on the CPU,
and on a GPU the captured graph replayed against eager steps."""

from functools import partial

import pytest
import torch

from conftest import make_gan, tensors_equal
from ganforge.ops.cuda_graph import GraphedStep
from ganforge.training.step import gan_state, train_step


def test_graphed_step_path_trains_exactly_like_plain_steps():
    plain, graphed = make_gan(False, True), make_gan(False, True)
    step = GraphedStep(partial(train_step, graphed), state=lambda: gan_state(graphed), capture=False)
    torch.manual_seed(3)
    batches = [(torch.rand(32, 1, 28, 28) * 2 - 1, torch.randn(32, 16)) for _ in range(4)]
    for real_images, z in batches:
        torch.manual_seed(0)  # the warm-up must not shift anything either
        expected = train_step(plain, real_images, z)
        torch.manual_seed(0)
        actual = step(real_images, z, None, variant=True)
        assert torch.equal(actual, expected)
    assert tensors_equal(plain.generator.state_dict(), graphed.generator.state_dict())
    assert tensors_equal(plain.optimizer_d.state_dict(), graphed.optimizer_d.state_dict())


def _cuda_gan(capturable: bool):
    from ganforge.losses import LOSSES
    from ganforge.models import build_discriminator, build_generator
    from ganforge.training.ema import Ema
    from ganforge.training.optim import make_optimizer
    from ganforge.training.options import StepOptions
    from ganforge.training.step import Gan

    torch.manual_seed(0)
    generator = build_generator("dcgan28", z_dim=16, channels=1, image_size=28).cuda()
    discriminator = build_discriminator("dcgan28", channels=1, image_size=28).cuda()
    adam = {"kind": "adam", "lr": 2e-4, "betas": (0.5, 0.99), "momentum": 0.0, "capturable": capturable}
    return Gan(generator=generator, discriminator=discriminator,
               optimizer_g=make_optimizer(generator, **adam),
               optimizer_d=make_optimizer(discriminator, **adam),
               options=StepOptions(loss=LOSSES.get("bce")), ema=Ema(generator, 1000, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh)")
def test_captured_cuda_graph_and_capturable_adam_match_eager_steps():
    """Replaying the captured step trains as eager steps do (capturable Adam too)."""
    eager, capturable_eager, graphed = _cuda_gan(False), _cuda_gan(True), _cuda_gan(True)
    step = GraphedStep(partial(train_step, graphed), state=lambda: gan_state(graphed), capture=True)
    torch.manual_seed(3)
    batches = [(torch.rand(32, 1, 28, 28, device="cuda") * 2 - 1, torch.randn(32, 16, device="cuda"))
               for _ in range(5)]
    for real_images, z in batches:
        expected = train_step(eager, real_images, z)
        torch.testing.assert_close(train_step(capturable_eager, real_images, z), expected,
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(step(real_images, z, None, variant=True), expected, rtol=1e-4,
                                   atol=1e-5)
    assert step.graphs[True][1] is not None, "the step was not captured as a graph"
    for module in ("generator", "discriminator"):
        for name, tensor in getattr(eager, module).state_dict().items():
            torch.testing.assert_close(getattr(graphed, module).state_dict()[name], tensor,
                                       rtol=1e-4, atol=1e-5, msg=f"{module}.{name}")
    torch.testing.assert_close(graphed.ema.model.state_dict(), eager.ema.model.state_dict(),
                               rtol=1e-4, atol=1e-5)
