"""Dataclass configs, YAML presets and ``key=value`` overrides.

Resolution order (later wins): dataclass defaults < preset ``default`` < preset entry for the env id
< ``--config FILE`` < ``--set key=value``. Every key is checked against the dataclass fields; an
unknown key is an error naming the nearest valid key, so a typo never silently does nothing.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

from rlcv.errors import RlcvError, did_you_mean
from rlcv.settings import check, setting  # noqa: F401  (check: re-exported for the agents)

MAX_THREADS = 1024


@dataclass(kw_only=True)
class CommonConfig:
    """Settings every on-policy agent shares: environment, normalisation, network, callbacks."""

    n_envs: int = setting(1, "parallel environments; a rollout has n_steps * n_envs transitions")
    vectorization: str = setting("sync", "sync or async vector env (sync is faster on 2 cores)")
    env_kwargs: dict[str, Any] = setting(
        factory=dict, help="keyword arguments passed to gymnasium.make (also --env-kwargs)"
    )
    normalize_obs: bool = setting(False, "standardise observations with running mean/std")
    normalize_reward: bool = setting(False, "scale rewards by a running std of the discounted return")
    clip_obs: float = setting(10.0, "clip normalised observations to [-clip_obs, clip_obs]")
    clip_reward: float = setting(10.0, "clip scaled rewards to [-clip_reward, clip_reward]")
    gamma: float = setting(0.99, "discount factor in (0, 1]")
    hidden_sizes: list[int] = setting(
        factory=lambda: [64, 64], help="hidden layer widths of the policy and value networks"
    )
    activation: str = setting("tanh", "hidden activation: tanh or relu")
    log_std_init: float = setting(0.0, "initial log standard deviation of Gaussian policies")
    ortho_init: bool = setting(True, "orthogonal weight initialisation")
    eval_freq: int = setting(0, resumable=True)  # env steps between deterministic evaluations; 0 disables
    eval_episodes: int = setting(5, "episodes per deterministic evaluation", resumable=True)
    checkpoint_freq: int = setting(0, resumable=True)  # env steps between checkpoints; 0 = one per update
    num_threads: int = setting(1, "torch intra-op threads", resumable=True)
    # Env kwargs an agent needs unless the user says otherwise (e.g. hpo-forward's hypergradient):
    # build_config merges them *under* the user's env_kwargs, so no config mutates env_kwargs.
    env_kwarg_defaults: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        check(self.n_envs >= 1, "n_envs must be >= 1")
        check(self.vectorization in ("sync", "async"), "vectorization must be 'sync' or 'async'")
        check(0.0 < self.gamma <= 1.0, "gamma must be in (0, 1]")
        check(self.activation in ("tanh", "relu"), "activation must be 'tanh' or 'relu'")
        check(self.eval_freq >= 0 and self.checkpoint_freq >= 0, "eval_freq/checkpoint_freq must be >= 0")
        check(self.eval_episodes >= 1, "eval_episodes must be >= 1")
        check(self.clip_obs > 0 and self.clip_reward > 0, "clip_obs and clip_reward must be > 0")
        # An upper bound too: torch's OpenMP pool aborts the process (SIGSEGV, no message) when it
        # cannot create the threads asked for; past the core count more threads only slow training.
        check(1 <= self.num_threads <= MAX_THREADS, f"num_threads must be in [1, {MAX_THREADS}]")
        check(all(h > 0 for h in self.hidden_sizes), "hidden_sizes must be positive")


T = TypeVar("T")


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a field annotation; ints are accepted where floats are expected."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, value, arg)
            except RlcvError:
                continue
        raise RlcvError(f"config key '{name}' got {value!r}; expected {annotation}.")
    base = origin or annotation
    if base is float and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):  # NaN / inf would fail much later, blamed on something else
            raise RlcvError(f"invalid config: {name} must be a finite number, got {value!r}.")
        return float(value)
    if base is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base is bool and isinstance(value, bool):
        return value
    if base is str and isinstance(value, str):
        return value
    if base is list and isinstance(value, list | tuple):
        args = typing.get_args(annotation)
        return [_coerce(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)] if args else list(value)
    if base is dict and isinstance(value, dict):
        return dict(value)
    if base is typing.Any:
        return value
    type_name = getattr(base, "__name__", str(base))
    raise RlcvError(f"config key '{name}' got {value!r}; expected a {type_name} (e.g. --set {name}=...).")


@dataclass(kw_only=True)
class EstimatorConfig(CommonConfig):
    """Config of agents with a pluggable gradient estimator (a name in ``rlcv.estimators.ESTIMATORS``).

    The estimator's own keys (e.g. MBMF's ``k``) are given flat, next to the agent's keys
    (``--set k=5``); :func:`build_config` validates them with the estimator's settings dataclass
    and stores that object in ``estimator_settings`` (a nested mapping in config.yaml).
    """

    estimator: str = setting(
        "gae", "policy-gradient estimator (rlcv.estimators.ESTIMATORS); its keys are listed below it"
    )
    estimator_settings: Any = None  # the estimator's settings dataclass; defaults when None

    def __post_init__(self) -> None:
        super().__post_init__()
        from rlcv.estimators import settings_class

        cls = settings_class(self.estimator)
        if self.estimator_settings is None:
            self.estimator_settings = cls()
        check(
            isinstance(self.estimator_settings, cls),
            f"estimator_settings must be a {cls.__name__} for estimator '{self.estimator}'",
        )


def _build_flat(cls: type[T], values: dict[str, Any], extra_names: list[str]) -> T:
    hints = typing.get_type_hints(cls)
    names = field_names(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise RlcvError(
                f"unknown config key '{key}' for {cls.__name__}.{did_you_mean(key, names + extra_names)}"
                f" List the valid keys with `rlcv config --algo ALGO --env ENV`."
            )
        kwargs[key] = _coerce(key, value, hints[key])
    return cls(**kwargs)


def build_config(cls: type[T], values: dict[str, Any]) -> T:
    """Instantiate the dataclass ``cls`` from ``values``, rejecting unknown keys by name.

    For configs with an estimator (:class:`EstimatorConfig`), keys that are not the agent's go to
    the chosen estimator's settings (flat, or nested under ``estimator_settings`` as config.yaml
    stores them); an unknown key names the nearest key of either.
    """
    values = dict(values)
    defaults = getattr(cls, "env_kwarg_defaults", {})
    if defaults:
        values["env_kwargs"] = {**defaults, **(values.get("env_kwargs") or {})}
    if not issubclass(cls, EstimatorConfig):
        return _build_flat(cls, values, [])
    from rlcv.estimators import ESTIMATORS, settings_class

    agent_names = [n for n in field_names(cls) if n != "estimator_settings"]
    name = values.get("estimator", _field_default(cls, "estimator"))
    if name not in ESTIMATORS:
        raise RlcvError(
            f"unknown estimator '{name}'.{did_you_mean(str(name), list(ESTIMATORS))} "
            f"Known: {', '.join(ESTIMATORS)}."
        )
    settings_cls = settings_class(name)
    nested = values.pop("estimator_settings", None) or {}
    own = {k: v for k, v in values.items() if k in agent_names}
    rest = {**nested, **{k: v for k, v in values.items() if k not in agent_names}}
    settings_names = field_names(settings_cls)
    for key in rest:
        if key not in settings_names:
            raise RlcvError(
                f"unknown config key '{key}' for {cls.__name__} with estimator '{name}'."
                f"{did_you_mean(key, agent_names + settings_names)}"
                f" List the valid keys with `rlcv config --algo ALGO --env ENV`."
            )
    own["estimator_settings"] = _build_flat(settings_cls, rest, agent_names)
    hints = typing.get_type_hints(cls)
    kwargs = {k: (v if k == "estimator_settings" else _coerce(k, v, hints[k])) for k, v in own.items()}
    return cls(**kwargs)


def _field_default(cls: type, name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """Parse ``["lr=3e-4", "hidden_sizes=[64,64]"]``; values are read as YAML scalars/lists/maps."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise RlcvError(f"--set expects key=value, got '{pair}' (e.g. --set learning_rate=3e-4).")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        # YAML reads "3e-4" as a string (no dot); numbers users type should be numbers.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        out[key.strip()] = value
    return out


_EXPONENT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def numbers_as_numbers(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads ``1e-3`` — a number in JSON, Python and `--set` — as the string
    "1e-3"; read such strings as floats, recursively through mappings and lists."""
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: numbers_as_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_as_numbers(v) for v in value]
    return value


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.exists() and not path.is_file():
        raise RlcvError(
            f"--config '{path}' is not a regular file (a folder, device or pipe); pass a YAML file."
        )
    if not path.is_file():
        raise RlcvError(f"config file '{path}' not found; pass an existing YAML file to --config.")
    try:
        data = numbers_as_numbers(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except yaml.YAMLError as exc:
        raise RlcvError(f"config file '{path}' is not valid YAML ({str(exc).splitlines()[0]}).") from exc
    except UnicodeDecodeError as exc:
        raise RlcvError(f"config file '{path}' is not UTF-8 text; save it as UTF-8 YAML.") from exc
    except OSError as exc:
        raise RlcvError(f"cannot read config file '{path}' ({exc.strerror}).") from exc
    if not isinstance(data, dict):
        raise RlcvError(f"config file '{path}' must hold a mapping of key: value pairs.")
    return data


def preset(algo: str, env_id: str) -> dict[str, Any]:
    """Preset hyper-parameters: the YAML ``default`` block overlaid with the block for ``env_id``.

    A variant's file names its base algorithm (``base: ppo`` in mbmf-ppo.yaml, sb3-ppo.yaml, …) and
    starts from the base's preset, so "sb3-ppo" and "mbmf-ppo" train with the same hyper-parameters
    as "ppo" unless their own file says otherwise (fair comparisons)."""
    files = resources.files("rlcv") / "presets"
    data: dict[str, Any] = {}
    if (files / f"{algo}.yaml").is_file():
        data = yaml.safe_load((files / f"{algo}.yaml").read_text()) or {}
    merged = preset(data["base"], env_id) if data.get("base") else {}
    merged.update(data.get("default") or {})
    merged.update(data.get(env_id) or {})
    return merged


# -- documentation of the keys (`rlcv config`) -----------------------------------------------------------
# Each field declares its meaning (rlcv.settings.setting(help=...)) or carries a trailing comment.


def _field_comments(cls: type) -> dict[str, str]:
    """Trailing ``# comment`` of each field line in the source of ``cls`` and its bases."""
    import inspect
    import re

    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for match in re.finditer(r"^    (\w+): [^\n=]+=[^\n#]*#\s*(.+)$", source, flags=re.M):
            out[match.group(1)] = match.group(2).strip()
    return out


@dataclass(frozen=True)
class KeyDoc:
    """One line of `rlcv config`."""

    key: str
    value: Any
    default: Any
    type: str
    help: str
    resumable: bool = False


def _type_name(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return str(text).replace("typing.", "")


def describe(config: CommonConfig) -> list[KeyDoc]:
    """Every key of a resolved config (estimator settings flattened, as ``--set`` takes them) with
    its value, default, type and meaning."""
    docs = []
    for obj in (config, getattr(config, "estimator_settings", None)):
        if obj is None or not dataclasses.is_dataclass(obj):
            continue
        comments = _field_comments(type(obj))
        for f in dataclasses.fields(obj):
            if f.name == "estimator_settings":
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = None
            meaning = f.metadata.get("help") or comments.get(f.name, "")
            resumable = bool(f.metadata.get("resumable"))
            docs.append(KeyDoc(f.name, getattr(obj, f.name), default, _type_name(f.type), meaning, resumable))
    return docs


def format_config(docs: list[KeyDoc]) -> str:
    """YAML a --config file can hold; each line's comment gives type, default and meaning."""
    lines = []
    for d in docs:
        value = yaml.safe_dump({d.key: d.value}, default_flow_style=True, width=1000).strip()[1:-1]
        default = "" if d.default == d.value else f", default {d.default!r}"
        resume = " [--resume may change it]" if d.resumable else ""
        lines.append(f"{value:<40} # {d.type}{default}: {d.help}{resume}".rstrip(": "))
    return "\n".join(lines)
