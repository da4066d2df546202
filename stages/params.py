"""params.yaml as frozen dataclasses, validated before any work.

`load_params()` reads the file with `yaml.safe_load` and builds `Params`; an unknown key, a
wrong type or an out-of-range value raises `ParamsError` with one line naming the key and what
is allowed. Stages call it first, so a typo in `-S` fails in a second, not after an hour.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

from advgrad.names import ACTIVATIONS, CIFAR_ARCHS, CIFAR_PREPS, CONV_DROPOUT_POSITIONS

MNIST_DATASETS = ("mnist", "fashion-mnist")
CIFAR_DATASETS = ("cifar-10",)
CIFAR_METHODS = ("backprop", "backprop-dropout", "adversarial", "adversarial-dropout")
DEVICES = ("auto", "cpu", "cuda")


class ParamsError(ValueError):
    """A params.yaml value is unknown, of the wrong type or out of range."""


def _check(ok: bool, key: str, allowed: str, value) -> None:
    if not ok:
        raise ParamsError(f"params.yaml: {key} = {value!r} is invalid; allowed: {allowed}")


def _members(values: tuple, allowed: tuple[str, ...], key: str) -> None:
    for v in values:
        _check(v in allowed, key, f"a list of {', '.join(allowed)}", v)


def _rate(key: str, value: float) -> None:
    _check(0.0 <= value < 1.0, key, "a probability in [0, 1)", value)


@dataclass(frozen=True)
class ActivationLR:
    logistic: float
    tanh: float
    relu: float

    def __post_init__(self):
        for name in ACTIVATIONS:
            _check(getattr(self, name) > 0, f"mnist.lr.{name}", "a positive number", getattr(self, name))


@dataclass(frozen=True)
class MnistDropout:
    input: float
    hidden: float

    def __post_init__(self):
        _rate("mnist.dropout.input", self.input)
        _rate("mnist.dropout.hidden", self.hidden)


MNIST_METHODS = ("backprop", "adversarial", "goodfellow")


@dataclass(frozen=True)
class MnistMethods:
    """The activations each MNIST method trains (at every width); [] turns a method off."""
    backprop: tuple[str, ...]
    adversarial: tuple[str, ...]
    goodfellow: tuple[str, ...]

    def __post_init__(self):
        for method in MNIST_METHODS:
            _members(getattr(self, method), ACTIVATIONS, f"mnist.methods.{method}")


@dataclass(frozen=True)
class MnistParams:
    datasets: tuple[str, ...]
    epochs: int
    batch_size: int
    units: tuple[int, ...]
    methods: MnistMethods
    clean_weight: float
    lr: ActivationLR
    init_std: float
    last_epochs: int
    validation_size: int
    train_size: int | None
    clip: bool
    dropout: MnistDropout

    def __post_init__(self):
        _members(self.datasets, MNIST_DATASETS, "mnist.datasets")
        _check(0 < self.clean_weight < 1, "mnist.clean_weight", "a number in (0, 1)", self.clean_weight)
        for u in self.units:
            _check(u > 0, "mnist.units", "a list of positive integers", u)
        _check(self.epochs > 0, "mnist.epochs", "a positive integer", self.epochs)
        _check(self.batch_size > 0, "mnist.batch_size", "a positive integer", self.batch_size)
        _check(self.init_std > 0, "mnist.init_std", "a positive number", self.init_std)
        _check(self.last_epochs > 0, "mnist.last_epochs", "a positive integer", self.last_epochs)
        _check(self.validation_size > 0, "mnist.validation_size", "a positive integer", self.validation_size)
        if self.train_size is not None:
            _check(self.train_size > self.validation_size, "mnist.train_size",
                   f"null or an integer > mnist.validation_size ({self.validation_size})", self.train_size)

    def trained(self, method: str) -> tuple[str, ...]:
        """The activations `method` trains."""
        return getattr(self.methods, method)

    @property
    def activations(self) -> tuple[str, ...]:
        """Every activation some method trains, in the paper's order."""
        return tuple(a for a in ACTIVATIONS if any(a in self.trained(m) for m in MNIST_METHODS))


ATTACK_INPUTS = ("pixels", "standardized")


@dataclass(frozen=True)
class AttackParams:
    eps: tuple[float, ...]
    clip: bool
    inputs: str

    def __post_init__(self):
        _check(self.inputs in ATTACK_INPUTS, "attack.inputs", " | ".join(ATTACK_INPUTS), self.inputs)
        for e in self.eps:
            _check(e >= 0, "attack.eps", "non-negative numbers", e)


@dataclass(frozen=True)
class RobustnessParams:
    eps: tuple[float, ...]
    pgd_steps: int
    pgd_step_size: float
    pgd_restarts: int
    clip: bool
    images: int | None

    def __post_init__(self):
        for e in self.eps:
            _check(e >= 0, "robustness.eps", "a list of non-negative numbers", e)
        _check(self.pgd_steps > 0, "robustness.pgd_steps", "a positive integer", self.pgd_steps)
        _check(self.pgd_step_size > 0, "robustness.pgd_step_size", "a positive number", self.pgd_step_size)
        _check(self.pgd_restarts > 0, "robustness.pgd_restarts", "a positive integer", self.pgd_restarts)
        if self.images is not None:
            _check(self.images > 0, "robustness.images", "null or a positive integer", self.images)


@dataclass(frozen=True)
class CifarDropout:
    input: float
    conv: tuple[float, ...]  # one rate per conv block
    conv_position: str
    fc: float

    def __post_init__(self):
        _rate("cifar10.dropout.input", self.input)
        _rate("cifar10.dropout.fc", self.fc)
        _check(len(self.conv) == 3, "cifar10.dropout.conv", "a list of 3 rates (one per conv block)",
               list(self.conv))
        for rate in self.conv:
            _rate("cifar10.dropout.conv", rate)
        _check(self.conv_position in CONV_DROPOUT_POSITIONS, "cifar10.dropout.conv_position",
               " | ".join(CONV_DROPOUT_POSITIONS), self.conv_position)


@dataclass(frozen=True)
class CifarConvParams:
    """The SGD settings of one CIFAR-10 architecture (the conv net's section)."""
    lr: float
    momentum: float
    dampening: float
    weight_decay: float
    section = "cifar10.conv"

    def __post_init__(self):
        _check(self.lr > 0, f"{self.section}.lr", "a positive number", self.lr)
        _check(0 <= self.momentum < 1, f"{self.section}.momentum", "a number in [0, 1)", self.momentum)
        _check(0 <= self.dampening <= 1, f"{self.section}.dampening", "a number in [0, 1]", self.dampening)
        _check(self.weight_decay >= 0, f"{self.section}.weight_decay", "a non-negative number", self.weight_decay)


@dataclass(frozen=True)
class CifarMlpParams(CifarConvParams):
    """The conv net's settings plus the MLP's width."""
    units: int
    section = "cifar10.mlp"

    def __post_init__(self):
        _check(self.units > 0, "cifar10.mlp.units", "a positive integer", self.units)
        super().__post_init__()


@dataclass(frozen=True)
class CifarEps:
    mlp: float
    conv: float

    def __post_init__(self):
        for arch in CIFAR_ARCHS:
            _check(getattr(self, arch) >= 0, f"cifar10.eps.{arch}", "a non-negative number", getattr(self, arch))


@dataclass(frozen=True)
class CifarParams:
    datasets: tuple[str, ...]
    preprocessing: tuple[str, ...]
    zca_epsilon: float
    gcn: bool
    methods: dict[str, tuple[str, ...]]  # method -> the architectures it trains
    train_size: int | None
    max_epochs: int
    batch_size: int
    max_norm: float
    max_halvings: int
    target_train_error: float
    halving_decay: float
    init_std: float
    dropout: CifarDropout
    eps: CifarEps
    mlp: CifarMlpParams
    conv: CifarConvParams

    @property
    def cells(self) -> list[tuple[str, str]]:
        """(arch, method) of every Table 3 cell to train, in the paper's order."""
        return [(arch, method) for arch in CIFAR_ARCHS for method in CIFAR_METHODS if arch in self.methods[method]]

    def __post_init__(self):
        _members(self.datasets, CIFAR_DATASETS, "cifar10.datasets")
        _members(self.preprocessing, CIFAR_PREPS, "cifar10.preprocessing")
        missing = [m for m in CIFAR_METHODS if m not in self.methods]
        _check(not missing and len(self.methods) == len(CIFAR_METHODS), "cifar10.methods",
               f"a mapping of {', '.join(CIFAR_METHODS)} to lists of architectures", dict(self.methods))
        for method, archs in self.methods.items():
            _members(archs, CIFAR_ARCHS, f"cifar10.methods.{method}")
        _check(self.zca_epsilon > 0, "cifar10.zca_epsilon", "a positive number", self.zca_epsilon)
        if self.train_size is not None:
            _check(self.train_size > 0, "cifar10.train_size", "null or a positive integer", self.train_size)
        _check(self.max_epochs > 0, "cifar10.max_epochs", "a positive integer", self.max_epochs)
        _check(self.batch_size > 0, "cifar10.batch_size", "a positive integer", self.batch_size)
        _check(self.max_norm > 0, "cifar10.max_norm", "a positive number", self.max_norm)
        _check(self.max_halvings >= 0, "cifar10.max_halvings", "a non-negative integer", self.max_halvings)
        _check(0 <= self.target_train_error < 1, "cifar10.target_train_error", "a fraction in [0, 1)",
               self.target_train_error)
        _check(0 <= self.halving_decay < 1, "cifar10.halving_decay", "a number in [0, 1)", self.halving_decay)
        _check(self.init_std > 0, "cifar10.init_std", "a positive number", self.init_std)


@dataclass(frozen=True)
class Params:
    eps: float
    seeds: int
    seed_base: int
    device: str
    mnist: MnistParams
    attack: AttackParams
    robustness: RobustnessParams
    cifar10: CifarParams

    def __post_init__(self):
        _check(self.eps >= 0, "eps", "a non-negative number (0 = plain back-propagation)", self.eps)
        _check(self.seeds > 0, "seeds", "a positive integer", self.seeds)
        _check(self.seed_base >= 0, "seed_base", "a non-negative integer", self.seed_base)
        _check(self.device in DEVICES, "device", " | ".join(DEVICES), self.device)


# ---------------------------------------------------------------------------------------------
# Strict construction from plain YAML data.

def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(tp))
    return {int: "integer", float: "number", str: "string", bool: "true/false"}.get(tp, tp.__name__)


def _convert(tp, value, key: str):
    origin = typing.get_origin(tp)
    if origin is dict:  # {name: value}: names are checked by the owner
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {key} must be a mapping; got {value!r}")
        _, item = typing.get_args(tp)
        return {k: _convert(item, v, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: {key} must be a mapping with keys "
                              f"{', '.join(f.name for f in dataclasses.fields(tp))}; got {value!r}")
        return _build(tp, value, key + ".")
    if origin is tuple:
        if not isinstance(value, list):
            raise ParamsError(f"params.yaml: {key} must be {_describe(tp)}; got {value!r}")
        (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return tuple(_convert(item, v, key) for v in value)
    if origin is not None:  # Optional[...]
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, key)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[tp]
    if not ok:
        raise ParamsError(f"params.yaml: {key} must be {_describe(tp)}; got {value!r}")
    return float(value) if tp is float else value


def _build(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ParamsError(f"params.yaml: unknown key {prefix}{unknown[0]}; "
                          f"allowed keys here: {', '.join(names)}")
    missing = [n for n in names if n not in data]
    if missing:
        raise ParamsError(f"params.yaml: missing key {prefix}{missing[0]}")
    return cls(**{n: _convert(hints[n], data[n], prefix + n) for n in names})


def parse_params(data: dict) -> Params:
    """Build and validate `Params` from the parsed YAML mapping."""
    if not isinstance(data, dict):
        raise ParamsError("params.yaml: the top level must be a mapping")
    return _build(Params, data)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read params.yaml (plain `yaml.safe_load`, no DVC) and validate it."""
    with open(path) as f:
        return parse_params(yaml.safe_load(f))


def load_params_or_exit(path: str | Path = "params.yaml") -> Params:
    """`load_params` for stage entry points: a bad value ends the stage with its one-line
    message (exit status 1) instead of a traceback."""
    try:
        return load_params(path)
    except (ParamsError, OSError, yaml.YAMLError) as err:
        raise SystemExit(f"error: {err}") from None
