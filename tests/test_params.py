"""params.yaml validation: every bad value fails in one line naming the key, before any work."""

import copy

import pytest
import yaml

from stages.params import ParamsError, load_params, parse_params


@pytest.fixture
def raw():
    with open("params.yaml") as f:
        return yaml.safe_load(f)


def test_repository_params_are_the_papers_protocol():
    """Each value read off the paper's text (section 3, section 4) or, where it is silent, the
    author's code; then every row of advgrad.report.protocol against params.yaml."""
    p = load_params("params.yaml")
    assert p.eps == 0.08 and p.seeds == 5
    assert p.mnist.epochs == 150 and p.mnist.batch_size == 10 and p.mnist.last_epochs == 10
    assert p.mnist.units == (400, 800, 1200) and p.mnist.activations == ("logistic", "tanh", "relu")
    assert (p.mnist.lr.logistic, p.mnist.lr.tanh, p.mnist.lr.relu) == (0.5, 0.01, 0.05)
    assert p.mnist.init_std == 0.01 and p.mnist.train_size is None
    assert p.mnist.validation_size == 10000 and p.mnist.clip is False  # the author's code
    assert p.attack.eps == (0.25, 0.5)
    c = p.cifar10
    assert (c.eps.mlp, c.eps.conv) == (0.03, 0.01) and c.mlp.units == 3000
    assert c.cells == [
        (a, m) for a in ("mlp", "conv") for m in ("backprop", "backprop-dropout", "adversarial", "adversarial-dropout")
    ]
    assert c.max_epochs == 300 and c.batch_size == 128 and c.max_norm == 4.0 and c.init_std == 0.01
    assert c.max_halvings == 8 and c.target_train_error == 0.0001 and c.train_size is None
    assert (c.mlp.lr, c.mlp.momentum, c.mlp.weight_decay) == (0.1, 0.0, 0.0)
    assert (c.conv.lr, c.conv.momentum, c.conv.weight_decay) == (0.5, 0.9, 0.001)
    assert (c.dropout.input, c.dropout.fc) == (0.1, 0.5)
    assert c.dropout.conv == (0.25, 0.25, 0.5) and c.dropout.conv_position == "before_pool"  # author's code
    assert c.zca_epsilon == 1e-5 / 255**2 and c.halving_decay == 0.75 and c.conv.dampening == 0.9

    from advgrad.report.protocol import PROTOCOL
    from stages.report import flat_settings

    settings = flat_settings(p)
    for row in PROTOCOL:
        if row.key is not None:
            value = settings[row.key]
            assert (list(value) if isinstance(value, (list, tuple)) else value) == row.value, row.key


def _set(raw, dotted, value):
    d = copy.deepcopy(raw)
    node = d
    *parents, last = dotted.split(".")
    for k in parents:
        node = node[k]
    node[last] = value
    return d


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("eps", -0.1, "eps = -0.1 is invalid"),
        ("eps", "big", "eps must be number"),
        ("seeds", 0, "seeds = 0 is invalid"),
        ("seeds", 2.5, "seeds must be integer"),
        ("device", "tpu", "device = 'tpu' is invalid; allowed: auto | cpu | cuda"),
        ("mnist.methods.goodfellow", ["relu", "swish"], "mnist.methods.goodfellow = 'swish' is invalid"),
        ("mnist.clean_weight", 1.0, "mnist.clean_weight = 1.0 is invalid"),
        ("attack.inputs", "normalised", "attack.inputs = 'normalised' is invalid; allowed: pixels | standardized"),
        ("robustness.pgd_steps", 0, "robustness.pgd_steps = 0 is invalid"),
        ("robustness.images", 0, "robustness.images = 0 is invalid"),
        ("mnist.datasets", ["kmnist"], "allowed: a list of mnist, fashion-mnist"),
        ("mnist.datasets", "mnist", "mnist.datasets must be a list of string"),
        ("mnist.units", [0], "mnist.units = 0 is invalid"),
        ("mnist.train_size", 5000, "mnist.train_size = 5000 is invalid"),
        ("cifar10.methods", ["backprop"], "cifar10.methods must be a mapping"),
        ("cifar10.methods.adversarial", ["resnet"], "cifar10.methods.adversarial = 'resnet' is invalid"),
        ("cifar10.dropout.fc", 1.0, "cifar10.dropout.fc = 1.0 is invalid"),
        ("mnist.lr", {"relu": 0.05}, "missing key mnist.lr.logistic"),
        # strict types: a bool is no number, a number no bool, a YAML list the only list
        ("seeds", True, "seeds must be integer; got True"),
        ("eps", True, "eps must be number; got True"),
        ("mnist.clip", 1, "mnist.clip must be true/false; got 1"),
        ("mnist.clip", "yes", "mnist.clip must be true/false; got 'yes'"),
        ("mnist.units", [400, 1.5], "mnist.units must be integer; got 1.5"),
        ("attack.eps", {0.25}, "attack.eps must be a list of number; got {0.25}"),
        ("mnist.train_size", "all", "mnist.train_size must be null or integer; got 'all'"),
        ("cifar10.mlp", None, "cifar10.mlp must be a mapping with keys lr, momentum, dampening, weight_decay, units"),
        # what is allowed, read off each constraint
        ("mnist.epochs", 0, "mnist.epochs = 0 is invalid; allowed: a positive integer"),
        ("mnist.train_size", 0, "allowed: null or an integer > mnist.validation_size (10000)"),
        ("mnist.dropout.input", 1.0, "mnist.dropout.input = 1.0 is invalid; allowed: a number in [0, 1)"),
        ("cifar10.conv.dampening", 1.5, "cifar10.conv.dampening = 1.5 is invalid; allowed: a number in [0, 1]"),
        ("cifar10.train_size", 0, "cifar10.train_size = 0 is invalid; allowed: null or a positive integer"),
        ("cifar10.max_halvings", -1, "cifar10.max_halvings = -1 is invalid; allowed: a non-negative integer"),
        ("robustness.eps", [0.1, -1], "robustness.eps = -1 is invalid; allowed: a list of non-negative numbers"),
        (
            "cifar10.dropout.conv",
            [0.25, 0.5],
            "cifar10.dropout.conv = [0.25, 0.5] is invalid; allowed: a list of 3 numbers in [0, 1)",
        ),
        ("cifar10.dropout.conv_position", "middle", "allowed: before_pool | after_pool"),
        (
            "cifar10.methods",
            {"backprop": ["mlp"]},
            "cifar10.methods = {'backprop': ['mlp']} is invalid; allowed: "
            "a mapping of backprop, backprop-dropout, adversarial, adversarial-dropout to lists of architectures",
        ),
    ],
)
def test_bad_values_fail_in_one_line_naming_the_key(raw, key, value, message):
    with pytest.raises(ParamsError) as err:
        parse_params(_set(raw, key, value))
    text = str(err.value)
    assert message in text and "\n" not in text


def test_unknown_key_is_named_with_the_allowed_keys(raw):
    bad = _set(raw, "mnist.epoch", 3)
    with pytest.raises(ParamsError, match=r"unknown key mnist\.epoch; allowed keys here: datasets, epochs"):
        parse_params(bad)


def test_yaml_ints_become_floats_and_lists_tuples(raw):
    p = parse_params(_set(_set(raw, "cifar10.max_norm", 4), "attack.eps", [0, 1]))
    assert type(p.cifar10.max_norm) is float and p.cifar10.max_norm == 4.0
    assert p.attack.eps == (0.0, 1.0) and all(type(e) is float for e in p.attack.eps)
    assert p.cifar10.methods["adversarial"] == ("mlp", "conv") and p.cifar10.dropout.conv == (0.25, 0.25, 0.5)


def test_top_level_must_be_a_mapping_with_string_keys(raw):
    with pytest.raises(ParamsError, match="the top level must be a mapping"):
        parse_params(None)
    with pytest.raises(ParamsError, match="unknown key 3; allowed keys here: eps, seeds"):
        parse_params({**raw, 3: 1})


def test_empty_lists_turn_a_branch_off(raw):
    p = parse_params(_set(_set(raw, "cifar10.datasets", []), "mnist.datasets", ["fashion-mnist"]))
    assert p.cifar10.datasets == () and p.mnist.datasets == ("fashion-mnist",)


def test_params_are_frozen():
    p = load_params("params.yaml")
    with pytest.raises(AttributeError):
        p.eps = 1.0
