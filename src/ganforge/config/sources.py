"""Where a config comes from: a preset, a YAML file or a Config, then dotted overrides;
`resolve` is the one way to get a validated Config from them (the API, sweeps and tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ganforge.config.schema import Config, build_dataclass
from ganforge.config.validate import validate
from ganforge.errors import ConfigError
from ganforge.registry import closest

PRESETS_PACKAGE = "ganforge.preset_configs"
DEFAULT_PRESET = "mnist-dcgan"

# {"train.lr_d": 4e-4}, ["train.lr_d=4e-4"] or [("train.lr_d", 4e-4)]
Overrides = Mapping[str, Any] | Iterable[str] | Iterable[tuple[str, Any]] | None


def config_from_dict(values: dict[str, Any]) -> Config:
    """Build, resolve and validate a Config; every problem is a one-line ConfigError."""
    config = build_dataclass(Config, values, "")
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


def override_pairs(overrides: Overrides) -> list[tuple[str, Any]]:
    """{"train.lr_d": 4e-4}, ["train.lr_d=4e-4"] or [("train.lr_d", 4e-4)] -> (key, value) pairs."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return list(overrides.items())
    if isinstance(overrides, str):
        raise ConfigError(f"overrides must be a dict or a list of KEY=VALUE texts, got the text "
                          f"{overrides!r}; write [{overrides!r}]")
    return [parse_override(item) if isinstance(item, str) else tuple(item) for item in overrides]


def is_config_file(source: str | Path) -> bool:
    """A YAML file rather than a preset name."""
    return isinstance(source, Path) or str(source).endswith((".yaml", ".yml")) or Path(source).is_file()


def source_values(source: str | Path | Config, relative_to: Path | None = None) -> dict[str, Any]:
    """The plain values of a preset name, a YAML file (found from `relative_to` when relative)
    or a Config."""
    if isinstance(source, Config):
        return source.to_dict()
    if is_config_file(source):
        path = Path(source)
        return read_yaml(relative_to / path if relative_to and not path.is_absolute() else path)
    return preset_values(source)


def resolve(source: str | Path | Config = DEFAULT_PRESET, overrides: Overrides = None, *,
            relative_to: Path | None = None) -> Config:
    """A validated Config: `source` (a preset name, a YAML file or a Config) with `overrides`
    (any dotted key) applied in order."""
    return config_from_dict(apply_overrides(source_values(source, relative_to),
                                            override_pairs(overrides)))


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
