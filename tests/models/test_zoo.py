"""The experiment space: every model, loss, regulariser, optimiser option and preset."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge.cli import main
from ganforge.config import preset_names, preset_values, resolve
from ganforge.data.augment import cutout, diff_augment, translate
from ganforge.data.synthetic import write_abstract_folder
from ganforge.losses import LOSSES, gradient_penalty, r1_penalty
from ganforge.models import MODELS, build_discriminator, build_generator
from ganforge.models.dcgan import SIZES
from ganforge.runs import RunDir, checkpoint
from ganforge.training.ema import Ema
from ganforge.training.optim import schedule_factor
from ganforge.training.trainer import Trainer
from helpers import MNIST_DIR, REPO, tensors_equal, train_tiny

LOGITS_REAL = torch.tensor([2.0, -1.0])
LOGITS_FAKE = torch.tensor([0.5, -3.0])


def widths(name: str) -> dict:
    return {key: 8 for key in MODELS.get(name).options if key in ("ngf", "ndf")}


@pytest.mark.parametrize("name, size, num_classes", [
    (name, size, num_classes) for name in MODELS.names() for size in MODELS.get(name).image_sizes
    for num_classes in ((0, 10) if MODELS.get(name).conditional else (0,))])
def test_every_model_resolution_and_conditioning(name, size, num_classes):
    torch.manual_seed(0)
    channels = 1 if size == 28 else 3
    kwargs = {"channels": channels, "image_size": size, "num_classes": num_classes}
    generator = build_generator(name, z_dim=16, **kwargs, **{k: v for k, v in widths(name).items()
                                                            if k == "ngf"})
    discriminator = build_discriminator(name, **kwargs, **{k: v for k, v in widths(name).items()
                                                          if k == "ndf"})
    labels = torch.randint(0, 10, (3,)) if num_classes else None
    images = generator(torch.randn(3, 16), labels)
    assert images.shape == (3, channels, size, size) and images.abs().max() <= 1
    assert discriminator(images, labels).shape == (3,)
    if num_classes:  # the label changes what G draws and what D says
        other = (labels + 1) % 10
        generator.eval()
        z = torch.randn(3, 16)
        assert not torch.allclose(generator(z, labels), generator(z, other))


def test_dcgan_at_28_is_the_reports_layout():
    assert MODELS.get("dcgan").image_sizes == SIZES == (28, 32, 64, 128)  # all shape-tested above
    generator = build_generator("dcgan", z_dim=100, channels=1, image_size=28, ngf=64)
    discriminator = build_discriminator("dcgan", channels=1, image_size=28, ndf=64)
    transposed = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
                  for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert transposed == [(100, 256, 4, 1, 0), (256, 128, 3, 2, 1), (128, 64, 4, 2, 1),
                          (64, 1, 4, 2, 1)]
    convs = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0])
             for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [(1, 64, 4, 2), (64, 128, 4, 2), (128, 256, 3, 2), (256, 1, 3, 1)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) == 2


def test_discriminator_options():
    plain = build_discriminator("dcgan", channels=3, image_size=64, ndf=8)
    options = build_discriminator("dcgan", channels=3, image_size=64, ndf=8, spectral_norm=True,
                                  batch_norm=False, dropout=0.2)
    assert any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in options.modules())
    assert sum(isinstance(m, nn.Dropout) for m in options.modules()) == 4
    convs = [m for m in options.modules() if isinstance(m, nn.Conv2d)]
    assert all(nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)


@pytest.mark.parametrize("name, d_expected, g_expected", [
    ("bce-minimax", None, -(math.log1p(math.exp(0.5)) + math.log1p(math.exp(-3))) / 2),
    ("hinge", (0 + 2) / 2 + (1.5 + 0) / 2, -(0.5 - 3) / 2),
    ("wgan-gp", (0.5 - 3) / 2 - (2 - 1) / 2, -(0.5 - 3) / 2),
])
def test_losses_on_hand_computed_logits(name, d_expected, g_expected):
    loss = LOSSES.get(name)
    if d_expected is not None:
        assert loss.discriminator(LOGITS_REAL, LOGITS_FAKE).item() == pytest.approx(d_expected)
    assert loss.generator(LOGITS_FAKE).item() == pytest.approx(g_expected)


def test_bce_minimax_shares_bce_discriminator():
    assert LOSSES.get("bce-minimax").discriminator is LOSSES.get("bce").discriminator
    assert LOSSES.get("wgan-gp").gradient_penalty and not LOSSES.get("hinge").gradient_penalty


def test_gradient_penalty_matches_hand_computation():
    # D(x) = w . x: its gradient is w everywhere, so the penalty is (|w| - 1)^2 exactly.
    weight = torch.tensor([[0.6, 0.0, 1.2, 0.4]])

    def critic(images, labels=None):
        return (images.flatten(1) * weight).sum(1)

    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    expected = (weight.norm() - 1) ** 2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    real.requires_grad_(True)
    assert r1_penalty(critic(real), real).item() == pytest.approx(weight.square().sum().item())


def test_ema_math_and_half_life():
    generator = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(generator.weight)
    ema = Ema(generator, half_life_images=640, batch_size=64)
    assert ema.half_life_now().item() == 640
    with torch.no_grad():
        generator.weight.fill_(1.0)
    for _ in range(10):  # 10 updates of 64 images = one half-life
        ema.update(generator)
    assert ema.model.weight.item() == pytest.approx(0.5, rel=1e-5)
    assert not ema.model.weight.requires_grad


def test_ema_rampup_follows_stylegan2_ada_formula():
    """half-life = min(H, rampup * images seen before the update); beta = 0.5 ** (B / half-life)."""
    torch.manual_seed(0)
    generator = nn.Linear(3, 2)
    ema = Ema(generator, half_life_images=10_000, batch_size=64, rampup=0.05)
    expected = [p.detach().clone() for p in ema.model.parameters()]
    for update in range(40):
        with torch.no_grad():
            for parameter in generator.parameters():
                parameter.add_(torch.randn_like(parameter))
        beta = 0.5 ** (64 / max(min(10_000, 0.05 * 64 * update), 1e-8))
        expected = [beta * old + (1 - beta) * new.detach()
                    for old, new in zip(expected, generator.parameters())]
        ema.update(generator)
        for value, parameter in zip(expected, ema.model.parameters()):
            torch.testing.assert_close(parameter, value, rtol=1e-5, atol=1e-6)
    assert ema.images_seen.item() == 40 * 64
    # The first update copies G; long after the ramp the half-life is the configured one.
    ema.images_seen.fill_(1e9)
    assert ema.half_life_now().item() == 10_000


def test_diffaugment_keeps_shape_and_gradients():
    torch.manual_seed(0)
    images = torch.rand(8, 3, 32, 32, requires_grad=True)
    out = diff_augment(images, "translation,cutout")
    assert out.shape == images.shape
    out.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    ones = torch.ones(64, 1, 16, 16)
    cut = cutout(ones)
    assert torch.allclose(cut.mean(dim=(1, 2, 3)), torch.full((64,), 0.75), atol=0.2)
    shifted = translate(ones)
    assert (shifted == 0).any() and (shifted == 1).any()


def test_schedule_factors():
    config = resolve(overrides=[("train.lr_schedule", "linear"), ("train.epochs", 10)])
    assert schedule_factor(config, 50, 10) == pytest.approx(0.5)
    config = resolve(overrides=[("train.lr_schedule", "cosine"), ("train.epochs", 10)])
    assert schedule_factor(config, 0, 10) == 1 and schedule_factor(config, 50, 10) == \
        pytest.approx(0.5)
    config = resolve(overrides=[("train.lr_schedule", "step"), ("train.lr_step_epochs", 2),
                                    ("train.lr_gamma", 0.5)])
    assert [schedule_factor(config, step, 10) for step in (0, 19, 20, 45)] == [1, 1, 0.5, 0.25]


def test_sgd_for_the_discriminator():
    config = resolve("mnist-sgd-d", overrides=[("data.limit", 256), ("train.device", "cpu")])
    trainer = Trainer.from_config(config)
    assert isinstance(trainer.gan.optimizer_d, torch.optim.SGD)
    assert isinstance(trainer.gan.optimizer_g, torch.optim.Adam)
    assert trainer.gan.optimizer_d.param_groups[0]["momentum"] == 0.9


def fashion_available() -> bool:
    from ganforge.data.sources import locate

    try:
        locate("fashion-mnist", None)
    except Exception:
        return False
    return True


def cifar10_available() -> bool:
    from ganforge.data.sources import load_split

    try:
        load_split("cifar10", None, "test")
    except Exception:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_trains_three_steps(preset, tmp_path):
    name = preset_values(preset)["data"]["name"]
    if name == "fashion-mnist" and not fashion_available():
        pytest.skip("Fashion-MNIST is not installed (Debian package dataset-fashion-mnist)")
    if name == "cifar10" and not cifar10_available():
        pytest.skip("CIFAR-10 is not on this machine and tests never download")
    # (folder presets at 64-128 px: narrow widths; the test is of the config, not the model size)
    data_dir = {"mnist": ["--data-dir", str(MNIST_DIR)],
                "folder": ["--data-dir", str(tmp_path / "art"), "--set", "model.ngf=8",
                           "--set", "model.ndf=8"]}
    if name == "folder":
        write_abstract_folder(tmp_path / "art", 20)  # 18 to train on, 2 held out
    code = main(["train", "--preset", preset, "--out", str(tmp_path / "run"), *data_dir.get(name, []),
                 "--max-steps", "3", "--batch-size", "16", "--set", "data.limit=64",
                 "--set", "train.num_samples=4", "--device", "cpu"])
    assert code == 0
    state = checkpoint.load(tmp_path / "run/checkpoints/last.pt")
    assert state["step"] == 3
    assert all(torch.isfinite(t).all() for t in state["generator"]["state_dict"].values()
               if t.is_floating_point())


def test_resume_is_exact_with_ema_schedule_and_critic_steps(tmp_path):
    extra = ("--set", "train.ema_half_life=500", "--set", "train.lr_schedule=cosine",
             "--set", "train.d_steps=2", "--set", "loss.name=hinge", "--epochs", "2")
    assert train_tiny(tmp_path / "whole", *extra) == 0
    assert train_tiny(tmp_path / "split", *extra, "--max-steps", "7") == 0
    assert main(["train", "--resume", str(tmp_path / "split"), "--max-steps", "0"]) == 0
    whole = checkpoint.load(tmp_path / "whole/checkpoints/last.pt")
    split = checkpoint.load(tmp_path / "split/checkpoints/last.pt")
    for key in ("generator", "generator_ema", "discriminator", "optimizer_g", "optimizer_d"):
        assert tensors_equal(whole[key], split[key]), key


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory) -> Path:
    """A conditional run folder (one tiny epoch: the files, not the quality)."""
    out = tmp_path_factory.mktemp("cgan") / "run"
    assert train_tiny(out, "--set", "model.conditional=true", "--epochs", "1") == 0
    return out


def test_conditional_samples_follow_their_label(conditional_run):
    """The mnist-cgan preset's generator (the served asset, 4 CPU minutes) draws the digit asked."""
    from ganforge.generation import load_generator
    from ganforge.metrics.features import extract, load_classifier
    from ganforge.sampling import generate

    generator = load_generator(REPO / "tests" / "assets" / "mnist-cgan.safetensors")
    classifier = load_classifier("mnist")
    hits = []
    for label in range(10):
        images = generate(generator, 50, seed=label, labels=torch.full((50,), label))
        predicted = extract(classifier, images)[1].argmax(1)
        hits.append((predicted == label).float().mean().item())
    assert sum(hits) / 10 > 0.95, hits
    # Every evaluation during training scores it per class too.
    evaluation = RunDir(conditional_run).evaluations()[-1]
    assert 0 <= evaluation["label_accuracy"] <= 1 and len(evaluation["class_spread"]) == 10


@pytest.mark.slow
def test_sample_by_label_grid_by_class_and_interpolation(conditional_run, tmp_path, capsys):
    from PIL import Image

    assert main(["sample", str(conditional_run), "--label", "7", "--n", "4",
                 "--out", str(tmp_path / "sevens.npy")]) == 0
    assert main(["sample", str(conditional_run), "--grid-by-class",
                 "--out", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size == (10 * 30 + 2, 10 * 30 + 2)
    assert main(["interpolate", str(conditional_run), "--steps", "6",
                 "--out", str(tmp_path / "walk.gif")]) == 0
    assert Image.open(tmp_path / "walk.gif").n_frames == 10  # there and back
    assert main(["sample", str(conditional_run), "--label", "12", "--out", str(tmp_path / "x.png")]) == 2
    assert "label must be in 0..9" in capsys.readouterr().err


def test_unconditional_model_refuses_labels(tiny_run, tmp_path, capsys):
    assert main(["sample", str(tiny_run), "--label", "3", "--out", str(tmp_path / "x.png")]) == 2
    assert "needs a conditional model" in capsys.readouterr().err
    assert RunDir(tiny_run).exists()


@pytest.mark.slow
def test_evaluating_a_conditional_run_fills_the_reports_per_class_section(conditional_run, tmp_path):
    import shutil

    import ganforge

    run = tmp_path / "run"
    shutil.copytree(conditional_run, run)
    scores = ganforge.load(run).evaluate(n=500, metrics=["fid"], data_dir=MNIST_DIR)
    assert len(scores["class_fid"]) == 10 and (run / "samples" / "by-class.png").is_file()
    page = ganforge.load(run).report().read_text()
    assert "<h2>Per class</h2>" in page and "ten samples of every class" in page
    assert f"{scores['intra_fid']:.4g}" in page
