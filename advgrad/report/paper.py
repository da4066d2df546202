"""Every number Nøkland (2015) prints, as plain data, each with the table or section it is from.

Copied by hand from the paper (arXiv 1510.04189v2). Errors are test-set percentages, as printed;
`std_pct` is the paper's "±" (across its 5 runs). Keys use the reproduction's own names
(activations `logistic | tanh | relu`, CIFAR archs `mlp | conv`, preprocessing `zca | simple`,
methods `backprop | backprop-dropout | adversarial | adversarial-dropout`) so that a paper
number and the reproduced one are looked up with the same key.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "Stat",
    "Table1Row",
    "AttackRow",
    "TABLE1",
    "TABLE1_SOURCE",
    "TABLE2",
    "TABLE2_SOURCE",
    "ATTACK",
    "ATTACK_SOURCE",
    "SPARSITY",
    "SPARSITY_SOURCE",
    "TABLE3",
    "TABLE3_SOURCE",
    "TABLE3_ARCH_NAMES",
    "TABLE3_METHOD_NAMES",
    "EPOCH_TIME_RATIO",
    "EPOCH_TIME_RATIO_SOURCE",
    "MNIST_PROTOCOL",
    "CIFAR_PROTOCOL",
]


class Stat(NamedTuple):
    """A result printed as `mean ± std %` (mean and std over the paper's 5 runs)."""

    mean_pct: float
    std_pct: float


class Table1Row(NamedTuple):
    """One previously published result. `units` is the kind of hidden unit, as in the paper."""

    method: str
    citation: str
    arch: str
    units: str
    error_pct: float


class AttackRow(NamedTuple):
    """Error (%) on FGSM examples of a back-prop model and of an adversarially trained model."""

    backprop_pct: float
    adversarial_pct: float


# --------------------------------------------------------------------------------------------
# Table 1: previously published MNIST key results (permutation invariant), in the paper's order.
TABLE1_SOURCE = "Table 1 (section 3)"
TABLE1: tuple[Table1Row, ...] = (
    Table1Row("Back-propagation", "Simard et al. (2003)", "2x800", "logistic", 1.60),
    Table1Row("Back-propagation", "Wan et al. (2013)", "2x800", "tanh", 1.49),
    Table1Row("Back-propagation", "Wan et al. (2013)", "2x800", "ReLU", 1.40),
    Table1Row("Dropout", "Srivastava et al. (2014)", "3x1024", "logistic", 1.35),
    Table1Row("Dropout", "Srivastava et al. (2014)", "3x1024", "ReLU", 1.25),
    Table1Row("DropConnect", "Wan et al. (2013)", "2x800", "ReLU", 1.20),
    Table1Row("Dropout + max norm", "Srivastava et al. (2014)", "2x8192", "ReLU", 0.95),
    Table1Row("DBM pre-training + dropout", "Srivastava et al. (2014)", "500-1000", "logistic", 0.79),
    Table1Row("Dropout + adversarial examples", "Goodfellow et al. (2014)", "2x1600", "maxout", 0.78),
    Table1Row("Virtual Adversarial Training", "Miyato et al. (2015)", "1200-600-300-150", "ReLU", 0.64),
    Table1Row("Ladder network", "Rasmus et al. (2015)", "1000-500-250-250-250", "ReLU", 0.61),
)

# --------------------------------------------------------------------------------------------
# Table 2: adversarial back-propagation on MNIST, 784-h-h-10, keyed by (activation, h).
# "The error was calculated as the mean of the 10 last epochs averaged over 5 runs" (section 3).
TABLE2_SOURCE = "Table 2 (section 3)"
TABLE2: dict[tuple[str, int], Stat] = {
    ("logistic", 400): Stat(1.15, 0.08),
    ("logistic", 800): Stat(1.00, 0.05),
    ("logistic", 1200): Stat(0.95, 0.03),
    ("tanh", 400): Stat(1.04, 0.04),
    ("tanh", 800): Stat(1.01, 0.02),
    ("tanh", 1200): Stat(1.07, 0.05),
    ("relu", 400): Stat(0.83, 0.04),
    ("relu", 800): Stat(0.78, 0.03),
    ("relu", 1200): Stat(0.78, 0.03),
}

# --------------------------------------------------------------------------------------------
# FGSM transfer attack, keyed by the attack's epsilon. Examples are made from the validation set
# with a 2x400 ReLU back-prop model; the error is that of another 2x400 ReLU back-prop model and
# of a 2x400 ReLU adversarially trained model. The paper prints whole percents.
ATTACK_SOURCE = "section 3 (text)"
ATTACK: dict[float, AttackRow] = {
    0.25: AttackRow(backprop_pct=22.0, adversarial_pct=4.0),
    0.5: AttackRow(backprop_pct=47.0, adversarial_pct=18.0),
}

# --------------------------------------------------------------------------------------------
# Fraction of exact zeros among the hidden-unit activations of a 2x400 ReLU net:
# "increased from 39% to 61%" with adversarial training. Fractions in [0, 1].
SPARSITY_SOURCE = "section 3 (text, Figure 3)"
SPARSITY: dict[str, float] = {"backprop": 0.39, "adversarial": 0.61}

# --------------------------------------------------------------------------------------------
# Table 3: CIFAR-10 test error, keyed by (arch, method, preprocessing). Rows in paper order.
TABLE3_SOURCE = "Table 3 (section 4)"
TABLE3: dict[tuple[str, str, str], Stat] = {
    ("mlp", "backprop", "zca"): Stat(62.72, 0.29),
    ("mlp", "backprop", "simple"): Stat(40.57, 0.33),
    ("mlp", "backprop-dropout", "zca"): Stat(55.45, 0.22),
    ("mlp", "backprop-dropout", "simple"): Stat(39.51, 0.31),
    ("mlp", "adversarial", "zca"): Stat(55.87, 0.55),
    ("mlp", "adversarial", "simple"): Stat(38.87, 0.18),
    ("mlp", "adversarial-dropout", "zca"): Stat(52.79, 0.66),
    ("mlp", "adversarial-dropout", "simple"): Stat(39.00, 0.35),
    ("conv", "backprop", "zca"): Stat(14.50, 0.11),
    ("conv", "backprop", "simple"): Stat(15.65, 0.15),
    ("conv", "backprop-dropout", "zca"): Stat(12.97, 0.23),
    ("conv", "backprop-dropout", "simple"): Stat(15.95, 0.27),
    ("conv", "adversarial", "zca"): Stat(13.62, 0.14),
    ("conv", "adversarial", "simple"): Stat(17.09, 0.30),
    ("conv", "adversarial-dropout", "zca"): Stat(12.55, 0.20),
    ("conv", "adversarial-dropout", "simple"): Stat(16.00, 0.46),
}
# How the paper names the rows of Table 3.
TABLE3_ARCH_NAMES = {"mlp": "2x3000", "conv": "CONV"}
TABLE3_METHOD_NAMES = {
    "backprop": "Back-prop",
    "backprop-dropout": "Back-prop + dropout",
    "adversarial": "Adversarial",
    "adversarial-dropout": "Adversarial + dropout",
}

# --------------------------------------------------------------------------------------------
# Cost: "The additional forward and backward pass adds roughly 70% to the epoch computation
# time" -> adversarial / standard epoch time ~ 1.7.
EPOCH_TIME_RATIO_SOURCE = "section 5 (text)"
EPOCH_TIME_RATIO = 1.7

# --------------------------------------------------------------------------------------------
# The protocol behind the numbers above: a run with less than this is a reduced-scale run.
MNIST_PROTOCOL = {
    "epochs": 150,  # section 3: "all networks were trained for 150 epochs"
    "seeds": 5,  # section 3: "averaged over 5 runs"
    "train_size": 60000,  # section 3: the full MNIST training set
    "eps": 0.08,  # section 3: "epsilon = 0.08 was kept constant for all networks"
    "batch_size": 10,  # section 3
    "lr": {"logistic": 0.5, "tanh": 0.01, "relu": 0.05},  # section 3
}
CIFAR_PROTOCOL = {
    "max_epochs": 300,  # section 4: "or the number of epochs reached 300"
    "seeds": 5,  # section 4: "the average over 5 runs"
    "train_size": 50000,  # section 4: the full CIFAR-10 training set
}
