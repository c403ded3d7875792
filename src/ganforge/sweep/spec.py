"""A sweep spec: read, checked whole before anything runs, and expanded into runs (a trial on
each of its seeds)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge.config import Config, read_yaml, resolve
from ganforge.errors import ConfigError

SPEC_KEYS = {"base", "grid", "trials", "search", "overrides", "eval_samples", "description", "seeds",
             "budget"}
# What a budget sets in every trial's config; a spec that also sets these itself conflicts.
BUDGETS = {"images": "train.max_images", "minutes": "train.max_minutes"}
BUDGET_KEYS = ("train.epochs", "train.max_steps", *BUDGETS.values())
# A minutes budget ends runs by the clock: the epochs must not end them first.
UNBOUNDED_EPOCHS = 1_000_000


@dataclass
class SweepSpec:
    base: str = "mnist-dcgan"
    grid: dict[str, list[Any]] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    search: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    eval_samples: int = 5000
    description: str = ""
    seeds: int | list[int] | None = None  # every trial on each seed: a count (0..N-1) or a list
    budget: dict[str, float] = field(default_factory=dict)  # {images: N} or {minutes: M}
    folder: Path = Path(".")  # where the spec lives: a relative `base` file is found from there

    @property
    def seed_list(self) -> list[int | None]:
        """The seeds every trial runs on; [None] without `seeds` (each config's own)."""
        if self.seeds is None:
            return [None]
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def budget_overrides(self) -> list[tuple[str, Any]]:
        if "images" in self.budget:
            return [(BUDGETS["images"], self.budget["images"])]
        if "minutes" in self.budget:
            return [(BUDGETS["minutes"], self.budget["minutes"]), ("train.epochs", UNBOUNDED_EPOCHS)]
        return []

    def budget_words(self) -> str:
        """The budget as the results table states it."""
        if "images" in self.budget:
            return f"{self.budget['images']:,d} training images per run (train.max_images)"
        if "minutes" in self.budget:
            return f"{self.budget['minutes']:g} minutes of training per run (train.max_minutes)"
        return "each trial's own epochs"


@dataclass(frozen=True)
class Trial:
    name: str  # the setting: NNN-key=value...
    overrides: dict[str, Any]
    seed: int | None = None  # None: the config's own

    @property
    def folder(self) -> str:
        """The run folder's name under SWEEP/trials/."""
        return self.name if self.seed is None else f"{self.name}-seed{self.seed}"


def _spec_keys(spec: SweepSpec) -> set[str]:
    """Every config key the spec itself sets."""
    return {*spec.overrides, *spec.grid, *spec.search,
            *(key for trial in spec.trials for key in trial)}


def _whole(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _check_seeds(path: Path, spec: SweepSpec) -> None:
    seeds = spec.seeds
    listed = isinstance(seeds, list) and seeds and all(_whole(seed, 0) for seed in seeds) \
        and len(set(seeds)) == len(seeds)
    if not (_whole(seeds, 1) or listed):
        raise ConfigError(f"{path}: seeds must be a count >= 1 (seeds: 3 runs seeds 0, 1, 2) or a "
                          f"list of different seeds >= 0, got {seeds!r}")
    if spec.search:
        raise ConfigError(f"{path}: seeds apply to grid and trials sweeps, not to a search")


def _check_budget(path: Path, spec: SweepSpec) -> None:
    budget = spec.budget
    (kind, value), = budget.items() if isinstance(budget, dict) and len(budget) == 1 else [(None, None)]
    minutes = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    if not ((kind == "images" and _whole(value, 1)) or (kind == "minutes" and minutes)):
        raise ConfigError(f"{path}: budget must be one of {{images: N}} (a whole number >= 1) or "
                          f"{{minutes: M}} (> 0), got {budget!r}")


def check_conflicts(spec: SweepSpec, keys: set[str], where: str) -> None:
    """Keys the spec's seeds or budget set may not be set again (in the spec, or by --set)."""
    taken = ({"train.seed"} if spec.seeds is not None else set()) | \
        (set(BUDGET_KEYS) if spec.budget else set())
    clash = sorted(keys & taken)
    if clash:
        owner = "seeds" if clash[0] == "train.seed" else f"budget {next(iter(spec.budget))}"
        raise ConfigError(f"{where}: {owner} and {clash[0]} conflict (the spec's {owner} sets it "
                          f"for every trial); drop {clash[0]}")


def load_spec(path: Path) -> SweepSpec:
    """Read and check a spec: keys, shapes, seeds and budget (before anything runs)."""
    values = read_yaml(path)
    unknown = sorted(set(values) - SPEC_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown sweep key {unknown[0]!r}; use {', '.join(sorted(SPEC_KEYS))}")
    spec = SweepSpec(**values, folder=path.parent)
    if spec.grid and spec.trials:
        raise ConfigError(f"{path}: give either grid or trials, not both")
    for key, choices in spec.grid.items():
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{path}: grid.{key} must be a non-empty list of values")
    if not isinstance(spec.eval_samples, int) or spec.eval_samples < 2:
        raise ConfigError(f"{path}: eval_samples must be a whole number >= 2")
    if spec.seeds is not None:
        _check_seeds(path, spec)
    if spec.budget:
        _check_budget(path, spec)
    check_conflicts(spec, _spec_keys(spec), str(path))
    return spec


def trial_config(spec: SweepSpec, overrides: dict[str, Any], extra: list[tuple[str, Any]] = (),
                 seed: int | None = None) -> Config:
    """The base config (the trial's own `preset`, else the spec's) + the spec's overrides and
    budget + the trial's + `extra` (command-line --set) + the seed."""
    overrides = dict(overrides)
    base = overrides.pop("preset", None) or spec.base
    seeded = [] if seed is None else [("train.seed", seed)]
    return resolve(base, [*spec.overrides.items(), *spec.budget_overrides, *overrides.items(), *extra,
                          *seeded], relative_to=spec.folder)


def _slug(overrides: dict[str, Any]) -> str:
    parts = [f"{key.rsplit('.', 1)[-1]}={value}" for key, value in overrides.items()]
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "", "-".join(parts).replace(" ", ""))[:80] or "base"


def expand(spec: SweepSpec, extra: list[tuple[str, Any]] = ()) -> list[Trial]:
    """The runs of a grid or list spec, each config validated: every trial on each seed, seeds
    innermost (a trial's seeds finish together); names sort in run order."""
    check_conflicts(spec, {key for key, _ in extra}, "--set")
    if spec.grid:
        keys = list(spec.grid)
        combos = [dict(zip(keys, values)) for values in itertools.product(*spec.grid.values())]
    else:
        combos = [dict(trial) for trial in spec.trials] or [{}]
    trials = []
    for index, overrides in enumerate(combos):
        name = f"{index:03d}-{_slug(overrides)}"
        for seed in spec.seed_list:
            try:
                trial_config(spec, overrides, extra, seed)
            except ConfigError as error:
                raise ConfigError(f"trial {name}: {error}") from None
            trials.append(Trial(name, overrides, seed))
    return trials
