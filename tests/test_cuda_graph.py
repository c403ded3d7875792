"""The CUDA-graph step's bookkeeping (static buffers, warm-up undone), run eagerly on the CPU."""

import torch

from ganforge.training.cuda_graph import GraphedStep
from ganforge.training.steps import train_step
from test_performance_paths import make_gan
from test_training import tensors_equal


def test_graphed_step_path_trains_exactly_like_plain_steps():
    plain, graphed = make_gan(False, True), make_gan(False, True)
    step = GraphedStep(graphed, capture=False)
    torch.manual_seed(3)
    batches = [(torch.rand(32, 1, 28, 28) * 2 - 1, torch.randn(32, 16)) for _ in range(4)]
    for real_images, z in batches:
        torch.manual_seed(0)  # the warm-up must not shift anything either
        expected = train_step(plain, real_images, z)
        torch.manual_seed(0)
        actual = step(graphed, real_images, z)
        assert torch.equal(actual, expected)
    assert tensors_equal(plain.generator.state_dict(), graphed.generator.state_dict())
    assert tensors_equal(plain.optimizer_d.state_dict(), graphed.optimizer_d.state_dict())
