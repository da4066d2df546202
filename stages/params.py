"""params.yaml as frozen pydantic dataclasses, validated before any work.

`load_params()` reads the file with `yaml.safe_load` and builds `Params`; an unknown key, a
wrong type or an out-of-range value raises `ParamsError` with one line naming the key and what
is allowed. Stages call it first, so a typo in `-S` fails in a second, not after an hour.
Pydantic dataclasses (not models) keep `dataclasses.asdict(params)` and the frozen
`AttributeError` of plain dataclasses; scalars are Strict* types (no "1" -> 1, no 1 -> True).
"""

from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.dataclasses import dataclass
from pydantic.types import StrictBool, StrictFloat, StrictInt

from advgrad.core.names import ACTIVATIONS, CIFAR_ARCHS, CIFAR_PREPS, CONV_DROPOUT_POSITIONS

MNIST_DATASETS = ("mnist", "fashion-mnist")
CIFAR_METHODS = ("backprop", "backprop-dropout", "adversarial", "adversarial-dropout")
MNIST_METHODS = ("backprop", "adversarial", "goodfellow", "random", "vat")


class ParamsError(ValueError):
    """A params.yaml value is unknown, of the wrong type or out of range."""


def _invalid(key: str, value, allowed: str) -> ParamsError:
    return ParamsError(f"params.yaml: {key} = {value!r} is invalid; allowed: {allowed}")


def _tuple(value):
    if not isinstance(value, list):  # a string, a mapping or a YAML !!set is not a list
        raise ValueError("not a list")
    return tuple(value)


def _cifar_methods(value):
    if isinstance(value, dict) and set(value) != set(CIFAR_METHODS):
        raise _invalid("cifar10.methods", value, f"a mapping of {', '.join(CIFAR_METHODS)} to lists of architectures")
    return value


T = TypeVar("T")
ListOf = Annotated[tuple[T, ...], BeforeValidator(_tuple)]  # a YAML list, as a tuple
PosInt = Annotated[StrictInt, Field(gt=0)]
NonNegInt = Annotated[StrictInt, Field(ge=0)]
PosFloat = Annotated[StrictFloat, Field(gt=0)]
NonNegFloat = Annotated[StrictFloat, Field(ge=0)]
Fraction = Annotated[StrictFloat, Field(ge=0, lt=1)]  # rates, momentum, ...
Activations = ListOf[Literal[ACTIVATIONS]]
_frozen = dataclass(frozen=True, config=ConfigDict(extra="forbid"))


@_frozen
class ActivationLR:
    logistic: PosFloat
    tanh: PosFloat
    relu: PosFloat


@_frozen
class MnistDropout:
    input: Fraction
    hidden: Fraction


@_frozen
class MnistMethods:
    """The activations each MNIST method trains (at every width); [] turns a method off."""

    backprop: Activations
    adversarial: Activations
    goodfellow: Activations
    random: Activations  # the random-sign control of section 5's claim (beyond the paper)
    vat: Activations  # virtual adversarial training, Miyato et al. (beyond the paper)


@_frozen
class MnistVat:
    eps: PosFloat  # L2 norm of r_vadv per example
    xi: PosFloat  # finite-difference step of the power iteration
    iterations: NonNegInt  # power iterations (0: a random direction)
    weight: NonNegFloat  # lambda, the weight of the divergence term


@_frozen
class MnistParams:
    datasets: ListOf[Literal[MNIST_DATASETS]]
    epochs: PosInt
    batch_size: PosInt
    units: ListOf[PosInt]
    methods: MnistMethods
    clean_weight: Annotated[StrictFloat, Field(gt=0, lt=1)]
    lr: ActivationLR
    init_std: PosFloat
    last_epochs: PosInt
    validation_size: PosInt
    train_size: StrictInt | None
    clip: StrictBool
    dropout: MnistDropout
    vat: MnistVat

    @model_validator(mode="after")
    def _train_size_exceeds_validation_size(self):
        if self.train_size is not None and self.train_size <= self.validation_size:
            raise _invalid(
                "mnist.train_size",
                self.train_size,
                f"null or an integer > mnist.validation_size ({self.validation_size})",
            )
        return self

    def trained(self, method: str) -> tuple[str, ...]:
        """The activations `method` trains."""
        return getattr(self.methods, method)

    @property
    def activations(self) -> tuple[str, ...]:
        """Every activation some method trains, in the paper's order."""
        return tuple(a for a in ACTIVATIONS if any(a in self.trained(m) for m in MNIST_METHODS))


@_frozen
class AttackParams:
    eps: ListOf[NonNegFloat]
    clip: StrictBool
    inputs: Literal["pixels", "standardized"]


@_frozen
class AutoAttackParams:
    eps: ListOf[NonNegFloat]
    images: PosInt | None
    activations: Activations


@_frozen
class RobustnessParams:
    eps: ListOf[NonNegFloat]
    pgd_steps: PosInt
    pgd_step_size: PosFloat
    pgd_restarts: PosInt
    clip: StrictBool
    images: PosInt | None
    autoattack: AutoAttackParams


@_frozen
class CifarDropout:
    input: Fraction
    conv: Annotated[ListOf[Fraction], Field(min_length=3, max_length=3)]  # one rate per conv block
    conv_position: Literal[CONV_DROPOUT_POSITIONS]
    fc: Fraction


@_frozen
class CifarConvParams:
    """The SGD settings of one CIFAR-10 architecture (the conv net's section)."""

    lr: PosFloat
    momentum: Fraction
    dampening: Annotated[StrictFloat, Field(ge=0, le=1)]
    weight_decay: NonNegFloat


@_frozen
class CifarMlpParams(CifarConvParams):
    """The conv net's settings plus the MLP's width."""

    units: PosInt


@_frozen
class CifarEps:
    mlp: NonNegFloat
    conv: NonNegFloat


@_frozen
class CifarParams:
    datasets: ListOf[Literal["cifar-10"]]
    preprocessing: ListOf[Literal[CIFAR_PREPS]]
    zca_epsilon: PosFloat
    gcn: StrictBool
    # method -> the architectures it trains
    methods: Annotated[dict[str, ListOf[Literal[CIFAR_ARCHS]]], BeforeValidator(_cifar_methods)]
    train_size: PosInt | None
    max_epochs: PosInt
    batch_size: PosInt
    max_norm: PosFloat
    max_halvings: NonNegInt
    target_train_error: Fraction
    halving_decay: Fraction
    init_std: PosFloat
    dropout: CifarDropout
    eps: CifarEps
    mlp: CifarMlpParams
    conv: CifarConvParams

    @property
    def cells(self) -> list[tuple[str, str]]:
        """(arch, method) of every Table 3 cell to train, in the paper's order."""
        return [(arch, method) for arch in CIFAR_ARCHS for method in CIFAR_METHODS if arch in self.methods[method]]


@_frozen
class Params:
    eps: NonNegFloat  # 0 = plain back-propagation
    seeds: PosInt
    seed_base: NonNegInt
    device: Literal["auto", "cpu", "cuda"]
    mnist: MnistParams
    attack: AttackParams
    robustness: RobustnessParams
    cifar10: CifarParams


# ---------------------------------------------------------------------------------------------
# pydantic's first error as one line; what is allowed is read off the JSON schema of the key.

_ADAPTER = TypeAdapter(Params)


def _describe(node: dict, full: bool, plural: bool = False) -> str:
    """full: what a value may be (a positive integer, a number in [0, 1), auto | cpu, a list of mlp,
    conv); else only its type (integer, null or integer, a list of string)."""
    if "anyOf" in node:
        return " or ".join(_describe(n, full) for n in sorted(node["anyOf"], key=lambda n: n.get("type") != "null"))
    if "properties" in node:
        return f"a mapping with keys {', '.join(node['properties'])}"
    if "enum" in node and full:
        return (", " if plural else " | ").join(node["enum"])
    kind = node.get("type", "value")
    if kind == "array":
        n = f"{node['maxLength']} " if full and node.get("minLength", -1) == node.get("maxLength") else ""
        return f"a list of {n}{_describe(node['items'], full, plural=full)}"
    if not full or kind == "null":
        return {"boolean": "true/false", "object": "a mapping"}.get(kind, kind)
    noun = kind + ("s" if plural else "")
    bounds = {k: node[k] for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum") if k in node}
    if len(bounds) == 2:
        (lo_k, lo), (hi_k, hi) = bounds.items()
        noun += f" in {'(' if lo_k[0] == 'e' else '['}{lo}, {hi}{')' if hi_k[0] == 'e' else ']'}"
    elif bounds in ({"minimum": 0}, {"exclusiveMinimum": 0}):
        noun = ("positive " if "exclusiveMinimum" in bounds else "non-negative ") + noun
    return noun if plural else ("an " if noun[0] in "aeiou" else "a ") + noun


def _error(err: dict) -> ParamsError:
    """One line naming the key, the bad value and what is allowed."""
    if isinstance(err.get("ctx", {}).get("error"), ParamsError):  # raised by a validator above
        return err["ctx"]["error"]
    root = _ADAPTER.json_schema()
    deref = lambda n: root["$defs"][n["$ref"].split("/")[-1]] if "$ref" in n else n
    keys, parent, node = [], root, root
    for part in err["loc"]:
        if node.get("type") != "array":  # list indices name no key
            keys.append(str(part))
            parent, node = node, deref(node.get("properties", {}).get(part) or node.get("additionalProperties") or {})
    key, value, kind = ".".join(keys), err["input"], err["type"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden", "invalid_key"):
        return ParamsError(f"params.yaml: unknown key {key}; allowed keys here: {', '.join(parent['properties'])}")
    if kind in ("missing", "missing_argument"):
        return ParamsError(f"params.yaml: missing key {key}")
    if kind.endswith("_type") or kind == "value_error":  # a list item's type is the item's
        item = node.get("type") == "array" and isinstance(err["loc"][-1], int)
        return ParamsError(
            f"params.yaml: {key} must be {_describe(node['items'] if item else node, False)}; got {value!r}"
        )
    return _invalid(key, list(value) if isinstance(value, tuple) else value, _describe(node, True))


def parse_params(data: dict) -> Params:
    """Build and validate `Params` from the parsed YAML mapping."""
    if not isinstance(data, dict):
        raise ParamsError("params.yaml: the top level must be a mapping")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as err:
        raise _error(err.errors()[0]) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read params.yaml (plain `yaml.safe_load`, no DVC) and validate it."""
    with open(path) as f:
        return parse_params(yaml.safe_load(f))
