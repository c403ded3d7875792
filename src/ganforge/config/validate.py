"""Range and consistency checks of a built Config; names are checked against the registries of
models, losses, datasets and augmentations (which sit below the config and never read it)."""

from __future__ import annotations

from ganforge.config.schema import COMPILE_MODES, DEVICES, Config
from ganforge.errors import ConfigError


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
    for name in ("gp_weight", "r1_weight", "r2_weight", "instance_noise", "mode_seeking", "weight_clip"):
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
    _require(train.g_steps >= 1, f"train.g_steps must be >= 1, got {train.g_steps}")
    _require(train.ema_half_life >= 0,
             f"train.ema_half_life must be >= 0 (0: off), got {train.ema_half_life}")
    _require(train.ema_rampup >= 0,
             f"train.ema_rampup must be >= 0 (0: off), got {train.ema_rampup}")
    policies = [part for part in train.diffaugment.split(",") if part]
    _require(all(part in DIFF_AUGMENTS for part in policies),
             f"train.diffaugment takes a comma-separated list of {', '.join(DIFF_AUGMENTS)}, got "
             f"{train.diffaugment!r}")
    _require(data.limit >= 0, f"data.limit must be >= 0 (0 uses all images), got {data.limit}")
    _require(data.stacked_count >= 1, f"data.stacked_count must be >= 1, got {data.stacked_count}")
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
    _require(train.max_images >= 0,
             f"train.max_images must be >= 0 (0: train.epochs decides), got {train.max_images}")
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
