"""Typed configuration: presets and files (YAML) merged with dotted overrides, validated up front."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
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
RESUMABLE_KEYS = {"train.epochs", "train.max_steps", "train.max_minutes", "train.device",
                  "train.compile"}
DEVICES = ("auto", "cpu", "cuda", "mps")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
PRESETS_PACKAGE = "ganforge.preset_configs"


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


def _build(cls: type, values: Any, prefix: str) -> Any:
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
            kwargs[key] = _build(hints[key], value, f"{dotted}.")
        else:
            kwargs[key] = _coerce(dotted, value, hints[key])
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> Config:
    """Build, resolve and validate a Config; every problem is a one-line ConfigError."""
    config = _build(Config, values, "")
    validate(config)
    return config


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> tuple[str, Any]:
    """'train.lr_g=1e-4' -> ('train.lr_g', '1e-4' parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.lr_g=1e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    nested: Any = value
    for part in reversed(dotted.split(".")):
        nested = {part: nested}
    return nested


def apply_overrides(values: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    for key, value in overrides:
        values = _merge(values, _nest(key, value))
    return values


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"{path} is not valid YAML ({first_line}); fix the file") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections at the top level")
    return values


def preset_names() -> list[str]:
    folder = resources.files(PRESETS_PACKAGE)
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir()
                  if entry.name.endswith(".yaml"))


def preset_values(name: str) -> dict[str, Any]:
    names = preset_names()
    if name not in names:
        raise ConfigError(
            f"unknown preset {name!r}{closest(name, names)}; "
            "run 'ganforge presets' to list them"
        )
    return yaml.safe_load(resources.files(PRESETS_PACKAGE).joinpath(f"{name}.yaml").read_text())


def load_config(
    preset: str | None = None,
    config_file: Path | None = None,
    overrides: list[tuple[str, Any]] = (),
) -> Config:
    """Preset (or config file) + dotted overrides -> a validated Config."""
    values = read_yaml(config_file) if config_file else preset_values(preset or "mnist-dcgan")
    return config_from_dict(apply_overrides(values, list(overrides)))


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_keys(old: Config, new: Config) -> list[str]:
    old_flat, new_flat = flatten(old.to_dict()), flatten(new.to_dict())
    return sorted(key for key in new_flat if old_flat.get(key) != new_flat[key])


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def validate(config: Config) -> None:
    """Range and consistency checks; names are checked against the registries."""
    # Imported here so that loading a config file stays cheap and the registries stay below config.
    from ganforge.data.augment import DIFF_AUGMENTS
    from ganforge.data.catalog import DATASETS, data_shape
    from ganforge.losses import LOSSES
    from ganforge.models import MODELS
    from ganforge.models.dcgan import LAYOUTS, PLANS, depths
    from ganforge.models.layers import ACTIVATIONS, CONDITIONINGS, INITS

    data, model, loss, train = config.data, config.model, config.loss, config.train
    dataset = DATASETS.get(data.name)
    family = MODELS.get(model.name)
    if data.name == "folder":
        _require(bool(data.path),
                 "data.name=folder needs data.path: --set data.path=DIR (a folder of images)")
        _require(data.channels in (0, 1, 3), f"data.channels must be 1 or 3, got {data.channels}")
        _require(0 <= data.holdout < 1,
                 f"data.holdout is the share of the folder kept for evaluation, in [0, 1); got "
                 f"{data.holdout}")
    else:
        _require(not data.image_size and not data.channels,
                 f"data.image_size and data.channels apply to folder datasets; {data.name} images are "
                 f"{dataset.image_size} px with {dataset.channels} channel(s)")
    _, image_size, _ = data_shape(data)
    LOSSES.get(loss.name)
    _require(data.scale in ("tanh", "unit"), f"data.scale must be 'tanh' or 'unit', got {data.scale!r}")
    _require(not model.conditional or dataset.num_classes > 0,
             f"model.conditional needs labels but {data.name!r} has none; set model.conditional=false")
    for name in ("ngf", "ndf"):
        _require(getattr(model, name) >= 1, f"model.{name} must be >= 1, got {getattr(model, name)}")
    _require(model.conditioning in CONDITIONINGS,
             f"model.conditioning must be one of {', '.join(CONDITIONINGS)}, got {model.conditioning!r}")
    _require(model.init is None or model.init in INITS,
             f"model.init must be one of {', '.join(INITS)} (or unset: the model's own), got {model.init!r}")
    _require(model.d_minibatch_std >= 0,
             f"model.d_minibatch_std is a group size (4 is usual; 0: off), got {model.d_minibatch_std}")
    _require(model.d_dropout is None or 0 <= model.d_dropout < 1,
             f"model.d_dropout must be in [0, 1), got {model.d_dropout}")
    _require(model.d_image_batch_norm is not True or "d_image_batch_norm" in family.options,
             f"model.d_image_batch_norm=true needs dcgan28's or dcgan's discriminator; {model.name!r}'s "
             f"has no BatchNorm after its image layer (leave the key unset)")
    _require(model.layout is None or model.layout in LAYOUTS and "layout" in family.options,
             f"model.layout takes {', '.join(LAYOUTS)} (dcgan at 28 px), got {model.layout!r} for "
             f"{model.name!r}")
    for key in ("g_widths", "d_widths", "g_batch_norm", "g_activation", "g_dropout", "d_dropout_layers"):
        takers = ", ".join(name for name in MODELS.names() if key in MODELS.get(name).options)
        _require(getattr(model, key) is None or key in family.options,
                 f"model.{key} applies to {takers}, not {model.name!r}; leave it unset")
    for key in ("g_widths", "d_widths"):
        widths = list(getattr(model, key) or ())
        _require(all(width >= 1 for width in widths),
                 f"model.{key} are layer widths, each >= 1; got {widths}")
    _require(model.g_activation in (None, *ACTIVATIONS),
             f"model.g_activation must be one of {', '.join(ACTIVATIONS)}, got {model.g_activation!r}")
    _require(model.g_dropout is None or 0 <= model.g_dropout < 1,
             f"model.g_dropout must be in [0, 1), got {model.g_dropout}")
    _require(model.d_dropout_layers is None or model.d_dropout_layers >= 0,
             f"model.d_dropout_layers must be >= 0, got {model.d_dropout_layers}")
    _require(model.g_batch_norm is not False or not model.conditional or model.conditioning == "input",
             "model.g_batch_norm=false leaves no BatchNorm for conditioning=cbn; set "
             "model.conditioning=input")
    _require(loss.r1_every >= 1, f"loss.r1_every must be >= 1 (1: every D step), got {loss.r1_every}")
    for name in ("gp_weight", "r1_weight", "instance_noise", "mode_seeking", "weight_clip"):
        _require(getattr(loss, name) >= 0, f"loss.{name} must be >= 0, got {getattr(loss, name)}")
    for name in ("optimizer_g", "optimizer_d"):
        _require(getattr(train, name) in ("adam", "sgd", "rmsprop"),
                 f"train.{name} must be adam, sgd or rmsprop, got {getattr(train, name)!r}")
    _require(0 <= train.sgd_momentum < 1, f"train.sgd_momentum must be in [0, 1), got {train.sgd_momentum}")
    _require(train.lr_schedule in ("constant", "linear", "cosine", "step"),
             f"train.lr_schedule must be constant, linear, cosine or step, got {train.lr_schedule!r}")
    _require(train.lr_step_epochs >= 1, f"train.lr_step_epochs must be >= 1, got {train.lr_step_epochs}")
    _require(0 < train.lr_gamma <= 1, f"train.lr_gamma must be in (0, 1], got {train.lr_gamma}")
    _require(train.d_steps >= 1, f"train.d_steps must be >= 1, got {train.d_steps}")
    _require(train.ema_half_life >= 0,
             f"train.ema_half_life must be >= 0 (0: off), got {train.ema_half_life}")
    _require(train.ema_rampup >= 0,
             f"train.ema_rampup must be >= 0 (0: off), got {train.ema_rampup}")
    policies = [part for part in train.diffaugment.split(",") if part]
    _require(all(part in DIFF_AUGMENTS for part in policies),
             f"train.diffaugment takes a comma-separated list of {', '.join(DIFF_AUGMENTS)}, got "
             f"{train.diffaugment!r}")
    _require(data.limit >= 0, f"data.limit must be >= 0 (0 uses all images), got {data.limit}")
    _require(0 <= data.rotation_degrees <= 180,
             f"data.rotation_degrees must be between 0 and 180, got {data.rotation_degrees}")
    _require(model.z_dim >= 1, f"model.z_dim must be >= 1, got {model.z_dim}")
    _require(not model.conditional or family.conditional,
             f"model {model.name!r} is unconditional; set model.conditional=false, or choose "
             f"one of {', '.join(name for name in MODELS.names() if MODELS.get(name).conditional)}")
    _require(loss.reconstruction is None or not loss.reconstruction or family.self_supervised,
             f"loss.reconstruction needs a discriminator with decoders (model.name=fastgan); "
             f"{model.name!r} has none: drop it")
    _require(loss.reconstruction is None or loss.reconstruction >= 0,
             f"loss.reconstruction must be >= 0, got {loss.reconstruction}")
    _require(model.layout is None or image_size == 28,
             f"model.layout is a 28 px plan; {data.name!r} has {image_size} px images")
    if model.name == "dcgan" and image_size in PLANS:  # a width per layer of the plan
        for key, count in zip(("g_widths", "d_widths"), depths(image_size, model.layout)):
            widths = getattr(model, key)
            layout = f" with layout {model.layout}" if model.layout else ""
            _require(widths is None or len(widths) == count,
                     f"model.{key} for dcgan at {image_size} px{layout} takes {count} widths, got "
                     f"{len(widths or ())}")
    _require(image_size in family.image_sizes,
             f"model {model.name!r} makes {family.image_sizes} px images but {data.name!r} has "
             f"{image_size} px; choose another model.name or data.image_size")
    for name in ("real_label", "fake_label"):
        value = getattr(loss, name)
        _require(0.0 <= value <= 1.0, f"loss.{name} must be between 0 and 1, got {value}")
    _require(loss.fake_label < loss.real_label,
             f"loss.fake_label ({loss.fake_label}) must be below loss.real_label ({loss.real_label})")
    _require(train.epochs >= 1, f"train.epochs must be >= 1, got {train.epochs}")
    _require(train.max_steps >= 0, f"train.max_steps must be >= 0 (0: no limit), got {train.max_steps}")
    _require(train.max_minutes >= 0,
             f"train.max_minutes must be >= 0 (0: no limit), got {train.max_minutes}")
    _require(train.batch_size >= 1, f"train.batch_size must be >= 1, got {train.batch_size}")
    _require(train.seed >= 0, f"train.seed must be >= 0, got {train.seed}")
    for name in ("lr_g", "lr_d"):
        value = getattr(train, name)
        _require(0 < value < 1, f"train.{name} must be a learning rate in (0, 1), got {value}")
    for name in ("betas_g", "betas_d"):
        value = getattr(train, name)
        _require(all(0 <= beta < 1 for beta in value),
                 f"train.{name} must be two numbers in [0, 1), got {list(value)}")
    _require(train.device in DEVICES,
             f"train.device must be one of {', '.join(DEVICES)}, got {train.device!r}")
    _require(train.num_samples >= 1, f"train.num_samples must be >= 1, got {train.num_samples}")
    _require(train.log_every >= 1, f"train.log_every must be >= 1, got {train.log_every}")
    _require(train.health_window >= 1, f"train.health_window must be >= 1, got {train.health_window}")
    _require(train.checkpoint_every >= 0,
             f"train.checkpoint_every must be >= 0 (0: epoch ends only), got {train.checkpoint_every}")
    _require(train.compile in COMPILE_MODES,
             f"train.compile must be one of {', '.join(COMPILE_MODES)}, got {train.compile!r}")
    _require(train.precision in ("fp32", "bf16"),
             f"train.precision must be 'fp32' or 'bf16', got {train.precision!r}")
    _require(train.on_nan in ("stop", "rollback"),
             f"train.on_nan must be 'stop' or 'rollback', got {train.on_nan!r}")
    _require(train.max_rollbacks >= 0, f"train.max_rollbacks must be >= 0, got {train.max_rollbacks}")
    _require(train.eval_every >= 0, f"train.eval_every must be >= 0 (0: off), got {train.eval_every}")
    _require(train.eval_samples >= 2, f"train.eval_samples must be >= 2, got {train.eval_samples}")


def dump_yaml(config: Config) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
