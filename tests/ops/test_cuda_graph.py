"""The CUDA-graph step: its bookkeeping (static buffers, warm-up undone) run eagerly on the CPU,
and on a GPU the captured graph replayed against eager steps."""

from functools import partial

import pytest
import torch

from ganforge.config import resolve
from ganforge.ops.cuda_graph import GraphedStep
from ganforge.training.setup import Speed, build_gan
from ganforge.training.step import gan_state, train_step
from helpers import make_gan, tensors_equal


def test_graphed_step_path_trains_exactly_like_plain_steps():
    plain, graphed = make_gan(plain=False, channels_last=True), make_gan(plain=False, channels_last=True)
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


def _cuda_gan(preset: str, tmp_path):
    """`preset` at batch 32 as the trainer builds it for CUDA (fused Adam, rates in tensors, EMA)."""
    config = resolve(preset, overrides=[("train.batch_size", 32), ("data.path", str(tmp_path))])
    torch.manual_seed(0)
    gan, _ = build_gan(config, torch.device("cuda"), Speed.plan(config, "cuda"))
    return config, gan


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh)")
@pytest.mark.parametrize("preset", ["mnist-dcgan", "mnist-cgan"])
def test_captured_cuda_graph_matches_eager_steps_without_a_sync(preset, tmp_path):
    """Replaying the captured step trains as eager steps do (weights, EMA weights, statistics),
    and neither reads a tensor on the host (CUDA's sync debug mode raises on any)."""
    config, eager = _cuda_gan(preset, tmp_path)
    _, graphed = _cuda_gan(preset, tmp_path)
    step = GraphedStep(partial(train_step, graphed), state=lambda: gan_state(graphed), capture=True)
    torch.manual_seed(3)
    batches = [(torch.rand(32, 1, 28, 28, device="cuda") * 2 - 1,
                torch.randn(32, config.model.z_dim, device="cuda"),
                torch.randint(0, 10, (32,), device="cuda") if config.model.conditional else None)
               for _ in range(5)]
    try:
        for index, (real_images, z, labels) in enumerate(batches):
            if index == 1:  # once captured (capture itself synchronises)
                torch.cuda.set_sync_debug_mode("error")
            expected = train_step(eager, real_images, z, labels)
            torch.testing.assert_close(step(real_images, z, labels, variant=True), expected,
                                       rtol=1e-4, atol=1e-5)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert step.graphs[True][1] is not None, "the step was not captured as a graph"
    for module in ("generator", "discriminator"):
        torch.testing.assert_close(getattr(graphed, module).state_dict(),
                                   getattr(eager, module).state_dict(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(graphed.ema.model.state_dict(), eager.ema.model.state_dict(),
                               rtol=1e-4, atol=1e-5)
