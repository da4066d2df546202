"""FGSM evaluation against closed forms on hand-set linear models."""

import pytest
import torch
from torch import nn

from advgrad.evaluate.analysis import first_layer_weights, hidden_activations, zero_fractions
from advgrad.evaluate.attack import (
    error_pct,
    error_rows,
    fgsm_examples,
    pgd_examples,
    robustness_broken,
    softmax_ce,
    transfer_errors,
    transfer_experiment,
    transfer_pairs,
)
from advgrad.mnist.model import bce_loss


def threshold_model(direction: float = 1.0) -> nn.Sequential:
    """logits = (d*x0, -d*x0): class 0 iff d*x0 > 0. x1 does not reach the output."""
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[direction, 0.0], [-direction, 0.0]]))
    return nn.Sequential(lin)


def grid():
    # x0 = ±0.05, ±0.10, ..., ±1.00; x1 arbitrary. Label 0 iff x0 > 0: all clean-correct.
    mags = torch.arange(1, 21) * 0.05
    x0 = torch.cat([mags, -mags])
    x = torch.stack([x0, torch.linspace(-1, 1, 40)], dim=1)
    y = (x0 < 0).long()
    return x, y


def test_fgsm_moves_x0_towards_the_boundary_and_leaves_zero_gradient_inputs_alone():
    x, y = grid()
    # d J / d x0 = (sigmoid(z0) - t0) - (sigmoid(z1) - t1): negative for class 0, positive for 1.
    x_adv = fgsm_examples(threshold_model(), x, y, eps=0.125)
    expected_x0 = x[:, 0] - 0.125 * torch.where(y == 0, 1.0, -1.0)
    torch.testing.assert_close(x_adv[:, 0], expected_x0)
    torch.testing.assert_close(x_adv[:, 1], x[:, 1])  # sign(0) = 0


@pytest.mark.parametrize("eps", [0.0, 0.125, 0.33, 0.71])
def test_whitebox_fgsm_and_pgd_error_is_the_fraction_within_eps_of_the_boundary(eps):
    """Closed form: on the threshold model both attacks move x0 by eps towards the boundary (PGD
    in 40 steps of 0.03 from a random start, enough to reach the ball's edge), so exactly the
    samples with |x0| < eps are broken."""
    x, y = grid()
    closed_form = 100.0 * float((x[:, 0].abs() < eps).float().mean())
    rows = error_rows(robustness_broken({3: threshold_model()}, x, y, [eps], steps=40, step_size=0.03, clip=None))
    assert rows == [
        {"seed": 3, "attack": a, "eps": eps, "n_images": 40, "error_pct": pytest.approx(closed_form)}
        for a in ("fgsm", "pgd")
    ]


def test_pgd_equals_torchattacks_pgd_from_the_same_start():
    import torchattacks

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3))
    x, y = torch.rand(16, 8), torch.randint(0, 3, (16,))
    torch.manual_seed(5)
    start = torch.empty_like(x).uniform_(-0.1, 0.1)  # the draw torchattacks makes first
    torch.manual_seed(5)
    expected = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=7, random_start=True)(x, y)
    ours = pgd_examples(model, x, y, 0.1, 7, 0.02, clip=(0.0, 1.0), objective=softmax_ce, start=start)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)
    assert (ours - x).abs().max() <= 0.1 + 1e-6 and not torch.allclose(ours, x + start)


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_nonlinear_net():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 3))
    x, y = torch.rand(200, 8), torch.randint(0, 3, (200,))
    rows = {
        (r["attack"], r["eps"]): r["error_pct"]
        for r in error_rows(robustness_broken({0: model}, x, y, [0.0, 0.05, 0.2], steps=20, step_size=0.02))
    }
    assert rows[("fgsm", 0.0)] == rows[("pgd", 0.0)] == error_pct(model, x, y)
    for eps in (0.05, 0.2):
        assert rows[("pgd", eps)] >= rows[("fgsm", eps)] >= rows[("fgsm", 0.0)]
    assert rows[("pgd", 0.2)] > rows[("fgsm", 0.0)]


def test_transfer_pairs_give_both_targets_the_next_seed_never_the_sources():
    assert transfer_pairs([0, 1, 2]) == [(0, 1), (1, 2), (2, 0)]
    assert transfer_pairs([5, 7]) == [(5, 7), (7, 5)]
    assert transfer_pairs([3]) == []  # one seed: no target may share the source's seed
    for seeds in ([0, 1], [0, 1, 2], [4, 9, 11, 12, 30]):
        assert all(source != target for source, target in transfer_pairs(seeds))


def test_transfer_errors_pair_source_i_with_both_targets_of_seed_i_plus_1():
    x, y = grid()
    # Three seeds whose models are told apart by their errors: seed 0 the true threshold model,
    # seed 1 its mirror image (wrong on every clean sample), seed 2 the true model again.
    true, mirror = threshold_model(1.0), threshold_model(-1.0)
    sources = {0: true, 1: mirror, 2: true}
    # The backprop targets are the sources themselves; the adversarial family is its mirror.
    adversarial = {0: mirror, 1: true, 2: mirror}
    errors = transfer_errors(sources, {"backprop": sources, "adversarial": adversarial}, x, y, eps=0.33)
    crossed = 100.0 * float((x[:, 0].abs() < 0.33).float().mean())  # the true model's own examples
    # Source 0 (true) -> targets of seed 1: backprop mirror, adversarial true.
    # Source 1 (mirror) pushes every x0 away from the boundary -> seed 2: true (0 %), mirror (100 %).
    # Source 2 (true) -> seed 0: backprop true (crossed), adversarial mirror.
    assert errors["backprop"] == [pytest.approx(100.0 - crossed), 0.0, pytest.approx(crossed)]
    assert errors["adversarial"] == [pytest.approx(crossed), 100.0, pytest.approx(100.0 - crossed)]
    assert error_pct(true, x, y) == 0.0 and error_pct(mirror, x, y) == 100.0


def test_clip_keeps_examples_in_range():
    x, y = grid()
    x = x.abs().clamp(0.05, 0.95)
    y = torch.zeros_like(y)
    x_adv = fgsm_examples(threshold_model(), x, y, eps=0.5, clip=(0.0, 1.0))
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_objective_is_summed_bce_averaged_over_batch():
    logits = torch.tensor([[0.0, 0.0], [2.0, -1.0]])
    y = torch.tensor([0, 1])
    sig = torch.sigmoid(logits)
    by_hand = (
        -(torch.log(sig[0, 0]) + torch.log(1 - sig[0, 1])) - (torch.log(1 - sig[1, 0]) + torch.log(sig[1, 1]))
    ) / 2
    torch.testing.assert_close(bce_loss(logits, y), by_hand)


def test_zero_fractions_and_first_layer_weights_on_a_hand_set_relu_net():
    first = nn.Linear(2, 3)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]))
        first.bias.zero_()
    model = nn.Sequential(first, nn.ReLU(), nn.Linear(3, 2))
    x = torch.tensor([[1.0, 5.0], [-2.0, 1.0]])
    acts = hidden_activations(model, x)
    assert len(acts) == 1
    torch.testing.assert_close(acts[0], torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
    assert zero_fractions(acts) == {"per_layer": [4 / 6], "overall": 4 / 6}
    assert first_layer_weights(model).shape == (3, 2)


def test_transfer_experiment_reports_pairs_and_one_seed_as_not_run():
    x, y = grid()
    true, mirror = threshold_model(1.0), threshold_model(-1.0)
    targets = {"backprop": {0: true, 1: mirror, 2: true}, "adversarial": {0: mirror, 1: true, 2: mirror}}
    rows = transfer_experiment(targets, x, y, [0.33], clip=None)
    row = rows["0.33"]
    assert row["n_pairs"] == 3 and row["pairs"] == [[0, 1], [1, 2], [2, 0]]
    assert all(source != target for source, target in row["pairs"])
    # Mean over the three pairs of the errors worked out in the test above.
    assert row["backprop_pct"] == pytest.approx(100.0 / 3)
    assert row["adversarial_pct"] == pytest.approx(100.0 / 3 + 100.0 / 3)
    # each pair's error, in the order of the pairs: the numbers the claims ledger pairs by source
    per_pair = transfer_errors(targets["backprop"], targets, x, y, 0.33)
    assert row["backprop_per_pair_pct"] == per_pair["backprop"] and len(per_pair["backprop"]) == 3
    assert row["adversarial_per_pair_pct"] == per_pair["adversarial"]

    single = transfer_experiment({"backprop": {4: true}, "adversarial": {4: mirror}}, x, y, [0.25, 0.5], clip=None)
    for eps in ("0.25", "0.5"):
        assert single[eps]["n_pairs"] == 0 and "backprop_pct" not in single[eps]
        assert "at least 2 seeds" in single[eps]["not_run"]
    with pytest.raises(ValueError, match="different seeds"):
        transfer_experiment({"backprop": {0: true, 1: true}, "random": {0: true, 2: true}}, x, y, [0.25], clip=None)


def test_eps_in_standard_deviations_is_fgsm_on_the_standardized_input():
    """attack.inputs: standardized. A net that standardizes its pixels, attacked with eps * std on
    the pixels, gets exactly the examples of eps on its standardized input (one scalar std)."""
    from advgrad.mnist.model import MLPConfig, build_mlp

    torch.manual_seed(0)
    cfg = MLPConfig((6, 5, 3), "relu", input_mean=0.13, input_std=0.31)
    model = build_mlp(cfg)
    inner = torch.nn.Sequential(*list(model)[1:])  # the same net, fed standardized inputs
    x, y = torch.rand(20, 6), torch.randint(0, 3, (20,))
    on_pixels = fgsm_examples(model, x, y, 0.25 * 0.31)
    on_standardized = fgsm_examples(inner, (x - 0.13) / 0.31, y, 0.25)
    torch.testing.assert_close((on_pixels - 0.13) / 0.31, on_standardized, rtol=0, atol=1e-5)
    # And the experiment takes eps in those units.
    nets = {0: model, 1: build_mlp(cfg)}
    rows = transfer_experiment({"backprop": nets, "adversarial": nets}, x, y, [0.25], eps_unit=0.31)
    direct = transfer_errors(nets, {"backprop": nets}, x, y, 0.25 * 0.31)["backprop"]
    assert rows["0.25"]["backprop_pct"] == pytest.approx(sum(direct) / 2)
