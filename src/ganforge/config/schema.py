"""The config's typed sections and how YAML values become them (every problem a ConfigError
naming its dotted key)."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from ganforge.errors import ConfigError
from ganforge.registry import closest


@dataclass
class DataConfig:
    name: str = "mnist"
    path: str | None = None  # a folder searched before $GANFORGE_DATA, ./data, /usr/share/datasets
    limit: int = 0  # train on the first N images only (0: all); for quick experiments and tests
    image_size: int = 0  # folder datasets: pixels of the square crop (0: 64)
    channels: int = 0  # folder datasets: 3 (RGB) or 1 (grayscale) (0: 3)
    strict: bool = False  # folder datasets: an unreadable file is an error, not a warning
    # folder datasets: this share is held out, never trained on, and is what metrics compare with
    holdout: float = 0.1
    stacked_count: int = 128_000  # stacked-mnist: the training triples drawn (PacGAN's 128,000)
    rotation_degrees: float = 0.0  # random rotation within ±N degrees
    hflip: bool = False
    vflip: bool = False
    # "tanh": reals in [-1, 1] like G's Tanh output; "unit": reals in [0, 1], the course
    # notebook's mismatch, kept only to reproduce it faithfully
    scale: str = "tanh"


@dataclass
class ModelConfig:
    name: str = "dcgan28"
    z_dim: int = 64
    ngf: int = 64  # generator width (models with widths: dcgan)
    ndf: int = 64  # discriminator width
    conditional: bool = False  # the label into G (see conditioning), projection discriminator
    # cbn: conditional BatchNorm in every G block, fed the label and its own chunk of z (BigGAN);
    # input: z and the label concatenated at G's input only (G learns to ignore z)
    conditioning: str = "cbn"
    d_spectral_norm: bool = False
    d_batch_norm: bool = True
    d_dropout: float | None = None  # None: the model's own default (mlp 0.3, conv models 0)
    # BatchNorm right after D's image layer; None: the model's own (dcgan28: on, as the course;
    # dcgan, mlp: none)
    d_image_batch_norm: bool | None = None
    d_minibatch_std: int = 0  # minibatch std feature before D's last layer, over groups of N (0: off)
    # mlp (and mlp-dcgan's G): hidden-layer widths from the input side, BatchNorm and the
    # activation (relu, leaky_relu, tanh) in G's hidden layers, dropout after each of them, and
    # dropout after D's first N hidden layers only (the exercise: 2); dcgan takes the widths
    # (G's from the 4x4 end, D's from the image end) and G's activation; None: the model's own
    g_widths: tuple[int, ...] | None = None
    d_widths: tuple[int, ...] | None = None
    g_batch_norm: bool | None = None
    g_activation: str | None = None
    g_dropout: float | None = None
    d_dropout_layers: int | None = None
    # dcgan at 28 px: another layer plan of the experiments report's: d-kernel4 (exp 5: D's third
    # conv kernel 4, stride 2, padding 1) or g-five (exps 6-7: five transposed convolutions)
    layout: str | None = None
    # How G's and D's weights start: dcgan, course (the notebook's: BatchNorm weights N(0, 0.02)),
    # pytorch (PyTorch's defaults), xavier, kaiming, orthogonal; None: the model's own
    init: str | None = None


@dataclass
class LossConfig:
    name: str = "bce"
    real_label: float = 1.0  # 0.9 is one-sided label smoothing
    fake_label: float = 0.0
    gp_weight: float = 10.0  # lambda of wgan-gp's gradient penalty
    r1_weight: float = 0.0  # R1 penalty on real images (any loss; 0: off)
    r2_weight: float = 0.0  # R2: the same penalty on fake images (R3GAN; 0: off), on R1's steps
    # R1 on every Nth D step only, weighted N times (stylegan2's lazy regularisation): its second
    # backward through D then costs 1/N as much
    r1_every: int = 1
    instance_noise: float = 0.0  # std of Gaussian noise added to every D input (0: off)
    mode_seeking: float = 0.0  # weight of MSGAN's mode-seeking term in G's loss (0: off)
    # weight of D's self-supervised reconstruction loss, for models whose D has decoders
    # (fastgan); None: 1 for those, 0 for the rest
    reconstruction: float | None = None
    # Clip every D weight to [-c, c] after each D step (the original WGAN's Lipschitz bound; 0: off)
    weight_clip: float = 0.0
    # D's loss is the mean of its real and fake terms, as the course notebook and the exercise
    # optimise and print it (false: their sum, the DCGAN paper's)
    d_loss_mean: bool = False


@dataclass
class TrainConfig:
    epochs: int = 25
    max_steps: int = 0  # stop after this many steps in all (0: no limit)
    max_minutes: float = 0.0  # stop after this much wall time, as at an epoch end (0: no limit)
    # The run's length in training images, rounded up to whole batches (fair across batch
    # sizes); when set, train.epochs becomes the epochs that hold it (0: off)
    max_images: int = 0
    batch_size: int = 128
    seed: int = 0
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas_g: tuple[float, float] = (0.5, 0.999)
    betas_d: tuple[float, float] = (0.5, 0.999)
    optimizer_g: str = "adam"  # adam, sgd or rmsprop (the original WGAN's)
    optimizer_d: str = "adam"
    sgd_momentum: float = 0.0  # (and RMSprop's)
    lr_schedule: str = "constant"  # constant, linear (decay to 0), cosine, step
    lr_step_epochs: int = 10  # for "step": multiply by lr_gamma every this many epochs
    lr_gamma: float = 0.1
    d_steps: int = 1  # discriminator (critic) steps per generator step
    # Generator updates per G step, each on the same z (carpedm20's DCGAN-tensorflow, which the
    # PacGAN and VEEGAN Stacked MNIST results ran, updates G twice so D's loss does not reach 0)
    g_steps: int = 1
    # The G step draws new z (the course notebook) instead of reusing the D step's fakes
    g_fresh_noise: bool = False
    ema_half_life: int = 0  # generator EMA half-life in images (0: off); used by sample/evaluate
    # Early on the half-life is this times the images seen (stylegan2-ada's ema_rampup; 0: off),
    # so a short run's EMA is not a washed-out average of its first weights.
    ema_rampup: float = 0.05
    diffaugment: str = ""  # DiffAugment policies for every D input: "color", "translation", "cutout"
    device: str = "auto"
    channels_last: bool = True  # NHWC memory for G and D: faster convolutions on CPU and GPU
    cuda_graphs: bool = True  # on CUDA with a constant LR: replay the whole step as one graph
    compile: str = "off"  # torch.compile G and D: off, default, reduce-overhead, max-autotune
    precision: str = "fp32"  # fp32, or bf16 (autocast for the forward passes; losses in fp32)
    sync_batch_norm: bool = False  # under torchrun on CUDA: BatchNorm statistics over all ranks
    num_samples: int = 64  # images in the fixed-noise grid written after every epoch
    log_every: int = 50  # steps between interval records and health checks (each syncs the device)
    # Also print each interval record as a console line, with D(G(z)) before and after D's update
    # (the experiments report's printout every 50 iterations)
    log_lines: bool = False
    health: bool = True  # training-health detectors: warn with causes and remedies
    health_window: int = 250  # steps a failure must last before the detectors warn
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints (0: at epoch ends only)
    on_nan: str = "stop"  # a NaN/Inf loss: "stop", or "rollback" to the last checkpoint, lr halved
    max_rollbacks: int = 3
    # Epochs between evaluations (FID...) that keep checkpoints/best.pt; 0: off. Digit features
    # where a shipped classifier knows the dataset, else the fixed random embedding; a folder is
    # scored against its held-out share (data.holdout)
    eval_every: int = 1
    eval_samples: int = 2000  # generated images per evaluation during training


@dataclass
class Config:
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))


# Keys that may change when a run is resumed: they extend or limit the run, not what it computes.
RESUMABLE_KEYS = {"train.epochs", "train.max_steps", "train.max_minutes", "train.max_images",
                  "train.device", "train.compile"}
DEVICES = ("auto", "cpu", "cuda", "mps")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")


def _plain(value: Any) -> Any:
    """Tuples become lists so the dict is plain YAML/JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Convert a parsed YAML value to the field's type, or raise a ConfigError naming the key."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        (annotation,) = [option for option in options if option is not type(None)]
        return _coerce(key, value, annotation)
    if origin is tuple and typing.get_args(annotation)[1:] == (Ellipsis,):  # any length
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(f"{key}: expected a list of numbers, e.g. [256, 512], got {value!r}")
        return tuple(_coerce(key, item, typing.get_args(annotation)[0]) for item in value)
    if origin is tuple:
        item_types = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)) or len(value) != len(item_types):
            raise ConfigError(f"{key}: expected a list of {len(item_types)} numbers, got {value!r}")
        return tuple(_coerce(key, item, kind) for item, kind in zip(value, item_types))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected a whole number, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            # YAML reads 1e-4 (no dot) as a string, so numbers in strings are accepted here.
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected text, got {value!r}")
    raise TypeError(f"unsupported config type {annotation} for {key}")


def build_dataclass(cls: type, values: Any, prefix: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if key not in hints:
            suggestions = [f"{prefix}{name}" for name in names]
            raise ConfigError(
                f"unknown config key {dotted!r}{closest(dotted, suggestions)}; "
                f"valid keys here: {', '.join(suggestions)}"
            )
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = build_dataclass(hints[key], value, f"{dotted}.")
        else:
            kwargs[key] = _coerce(dotted, value, hints[key])
    return cls(**kwargs)


def dump_yaml(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
