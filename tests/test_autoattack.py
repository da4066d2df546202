"""AutoAttack's standard suite (advgrad.evaluate.autoattack) against closed forms, and in the
robustness stage.

On a linear model, logits = W x + b, the smallest L-infinity perturbation that lifts class j's
logit to class y's is margin_j / ||w_y - w_j||_1 (margin_j = z_y - z_j; the perturbation is
sign(w_j - w_y) times it), as long as the [0, 1] clip does not bind. So an attack that finds
the optimum breaks exactly the images whose smallest perturbation (min over j) is under eps,
and no attack within the eps-ball breaks the others. The images are drawn in [0.4, 0.6] and
eps is 0.03, so clipping never binds; they are chosen at least 20 % away from eps on either
side, so the outcome does not hang on the last digit of an optimizer.

Sizes are tiny (16 inputs seen as a 1x4x4 image, 30 images, 100 Square queries instead of the
stage's 5000) to keep the file fast.
"""

import csv
import logging

import pytest
import torch
import yaml
from torch import nn

from advgrad.core.checkpoint import save_models
from advgrad.core.io import save_checked
from advgrad.evaluate.attack import error_rows, robustness_broken
from advgrad.evaluate.autoattack import (
    SQUARE_QUERIES,
    STEPS,
    autoattack_broken,
    autoattack_examples,
    standard_suite,
)
from advgrad.mnist.model import MLPConfig, build_mlp
from stages import robustness
from tests.fixtures import mnist_like, mnist_square
from tests.real_data import ROOT

D, K, EPS, QUERIES = 16, 10, 0.03, 100
IMAGE = (1, 4, 4)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from torch's intra-op threads, which stall when another process
    busies a core (README, performance): 2 s per suite on one thread, up to a minute on two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def linear_case(offset: float = 0.0):
    """(model, x, y, r): a 16-10 linear model whose logits are offset by `offset` (argmax and
    softmax do not see it), 15 images with smallest flipping perturbation r < 0.8 eps and 15 with
    r > 1.25 eps, labelled with the model's own predictions."""
    g = torch.Generator().manual_seed(0)
    W, b = torch.randn(K, D, generator=g), 0.5 * torch.randn(K, generator=g)
    x = 0.4 + 0.2 * torch.rand(2000, D, generator=g)
    z = x @ W.T + b
    y = z.argmax(1)
    margin = z.gather(1, y[:, None]) - z  # (N, K), 0 at j = y
    l1 = (W[y][:, None, :] - W[None, :, :]).abs().sum(-1)  # ||w_y - w_j||_1, (N, K)
    r = torch.where(torch.arange(K) == y[:, None], torch.inf, margin / l1).amin(1)
    keep = torch.cat([(r < 0.8 * EPS).nonzero()[:15, 0], (r > 1.25 * EPS).nonzero()[:15, 0]])
    linear = nn.Linear(D, K)
    with torch.no_grad():
        linear.weight.copy_(W)
        linear.bias.copy_(b + offset)
    return nn.Sequential(linear).eval(), x[keep], y[keep], r[keep]


# offset 30: every logit above ~17, where a sigmoid is exactly 1.0 in float32, as it is for the
# true class of a confident BCE-trained net. The logits see no difference; sigmoid outputs would
# tie every class and give zero gradients, so an attack run on them breaks nothing.
@pytest.mark.parametrize("offset", [0.0, 30.0], ids=["logits", "saturating-sigmoid"])
def test_suite_breaks_exactly_the_images_within_eps_of_the_boundary(offset):
    model, x, y, r = linear_case(offset)
    within = r < EPS
    assert within.sum() == 15 and (~within).sum() == 15
    adv = autoattack_examples(model, x, y, EPS, n_queries=QUERIES, image_shape=IMAGE)
    with torch.no_grad():
        broken = model(adv).argmax(1) != y
    assert broken.tolist() == within.tolist()
    assert (adv - x).abs().amax(1).max() <= EPS + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    torch.testing.assert_close(adv[~within], x[~within], rtol=0, atol=0)  # unbroken: returned as given
    rows = error_rows(autoattack_broken({7: model}, x, y, [0.0, EPS], n_queries=QUERIES, image_shape=IMAGE))
    assert rows == [
        {"seed": 7, "attack": "autoattack", "eps": 0.0, "n_images": 30, "error_pct": 0.0},
        {"seed": 7, "attack": "autoattack", "eps": EPS, "n_images": 30, "error_pct": 50.0},
    ]


def test_suite_clips_to_the_unit_box():
    """Images at the edge of [0, 1] with a large eps: the examples stay in [0, 1] and the ball."""
    model, x, y, _ = linear_case()
    x = (x - 0.5) * 5 + 0.5  # [0, 1] with room to spare: the ball of 0.3 crosses the edges
    assert x.min() >= 0 and x.max() <= 1
    with torch.no_grad():
        y = model(x).argmax(1)
    adv = autoattack_examples(model, x, y, 0.3, n_queries=QUERIES, image_shape=IMAGE)
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= 0.3 + 1e-6
    assert ((adv == 0) | (adv == 1)).any()  # the clip bound somewhere
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        autoattack_examples(model, x + 1, y, 0.1, image_shape=IMAGE)


def test_the_suite_is_croce_and_heins_standard_version():
    """autoattack.py's `set_version('standard')` in github.com/fra31/auto-attack: not torchattacks'
    AutoAttack, whose APGD, APGD-T and FAB run 10 iterations and whose Square rescales its schedule."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(D, K))
    apgd, apgdt, fab, square = standard_suite(net, 0.1, K, seed=5).attacks
    assert STEPS == 100 and SQUARE_QUERIES == 5000
    assert (type(apgd).__name__, apgd.loss, apgd.steps, apgd.n_restarts) == ("APGD", "ce", 100, 1)
    assert (type(apgdt).__name__, apgdt.steps, apgdt.n_restarts, apgdt.n_target_classes) == ("APGDT", 100, 1, 9)
    assert (type(fab).__name__, fab.multi_targeted, fab.steps, fab.n_restarts, fab.n_target_classes) == (
        "FAB",
        True,
        100,
        1,
        9,
    )
    assert (type(square).__name__, square.n_queries, square.p_init, square.rescale_schedule) == (
        "Square",
        5000,
        0.8,
        False,
    )
    for attack in (apgd, apgdt, fab, square):
        assert attack.norm == "Linf" and attack.eps == 0.1 and attack.seed == 5


class Quantize(nn.Module):
    """x -> round(8 x) / 8: a zero gradient almost everywhere, the crudest gradient masking."""

    def forward(self, x):
        return torch.round(x * 8) / 8


def masked_case():
    """A quantized 16-10 linear model, 40 images in [0.3, 0.7] labelled with its predictions:
    gradient attacks move only by their random starts; Square (gradient-free) breaks many more,
    different ones for different seeds."""
    torch.manual_seed(1)
    model = nn.Sequential(Quantize(), nn.Linear(D, K)).eval()
    x = 0.3 + 0.4 * torch.rand(40, D)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def test_two_calls_give_the_same_rows_and_leave_the_global_rng_alone():
    """The attacks reseed torch's global generator (from the clock in torchattacks' AutoAttack):
    the suite runs on its own seed inside fork_rng, whatever the caller's RNG state."""
    model, x, y = masked_case()
    results = []
    for caller_seed in (11, 12):
        torch.manual_seed(caller_seed)
        before = torch.get_rng_state()
        adv = autoattack_examples(model, x, y, 0.05, seed=3, n_queries=QUERIES, image_shape=IMAGE)
        rows = error_rows(autoattack_broken({0: model}, x, y, [0.05], seed=3, n_queries=QUERIES, image_shape=IMAGE))
        assert torch.equal(torch.get_rng_state(), before)
        results.append((adv, rows))
    (adv_a, rows_a), (adv_b, rows_b) = results
    assert torch.equal(adv_a, adv_b) and rows_a == rows_b
    assert 0 < rows_a[0]["error_pct"] < 100
    # The seed is what fixes the examples: another one gives others.
    other = autoattack_examples(model, x, y, 0.05, seed=4, n_queries=QUERIES, image_shape=IMAGE)
    assert not torch.equal(other, adv_a)


def test_masked_gradients_fool_pgd_and_the_stage_warns(caplog):
    model, x, y = masked_case()
    pgd = robustness_broken({0: model}, x, y, [0.1], steps=20, step_size=0.025)
    aa = autoattack_broken({0: model}, x, y, [0.1], seed=0, n_queries=QUERIES, image_shape=IMAGE)
    assert aa[(0, "autoattack", 0.1)].sum() >= pgd[(0, "pgd", 0.1)].sum() + 10
    with caplog.at_level(logging.WARNING, logger="advgrad.robustness"):
        robustness.warn_masking(pgd, aa)
    assert "PGD was fooled" in caplog.text


# --- the robustness stage ----------------------------------------------------------------------

N_TEST, N_AA = 12, 8


def square_detector(scale: float) -> dict:
    """A 784-16-10 ReLU net, logit c = scale * (mean pixel of class c's square of the MNIST-format
    fixture). Lowering class y's square by eps and raising class j's by eps (no clip binds: the
    squares are >= 160/255, the background <= 63/255) flips the image iff eps > (m_y - m_j) / 2."""
    net = build_mlp(MLPConfig((784, 16, 10), "relu"))
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        for c in range(10):
            rows, cols = mnist_square(c)
            mask = torch.zeros(28, 28)
            mask[rows, cols] = 1.0 / mask[rows, cols].numel()
            net[0].weight[c] = mask.flatten()
            net[2].weight[c, c] = scale
    return net.state_dict()


def write_stage_inputs(tmp_path, **robustness_params):
    images, labels = mnist_like(N_TEST, seed=4)
    x = torch.as_tensor(images.reshape(N_TEST, 784))
    y = torch.as_tensor(labels).long()
    data = tmp_path / "mnist.pt"
    save_checked({"x_train": x, "y_train": y, "val_idx": torch.arange(0), "x_test": x, "y_test": y, "meta": {}}, data)
    model = tmp_path / "model.pt"
    entry = {"family": "mnist-mlp", "sizes": [784, 16, 10], "activation": "relu"}
    save_models(model, model=entry, seeds=[0, 1], state_dicts=[square_detector(1.0), square_detector(3.0)], config={})
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["robustness"].update(robustness_params)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    return data, model, params, x.float() / 255, y


def closed_form_pct(x, y, eps, n):
    means = torch.stack([x[:n].view(n, 28, 28)[:, r, c].mean((1, 2)) for r, c in map(mnist_square, range(10))], 1)
    gap = means.gather(1, y[:n, None]) - torch.where(torch.arange(10) == y[:n, None], -torch.inf, means).amax(1, True)
    return 100.0 * float((gap[:, 0] / 2 < eps).float().mean())


def test_stage_writes_autoattack_rows_beside_fgsm_and_pgd(tmp_path):
    """The fixture's thresholds (m_y - m_j) / 2 lie in 0.32-0.36 (means of 49 pixels): at eps 0.25
    the suite, all of it run, breaks none; at 0.45, all."""
    aa_eps = [0.25, 0.45]
    data, model, params, x, y = write_stage_inputs(
        tmp_path,
        eps=[0.0, 0.25],
        pgd_steps=2,
        clip=True,
        images=None,
        autoattack={"eps": aa_eps, "images": N_AA, "activations": ["relu"]},
    )
    expected = {eps: closed_form_pct(x, y, eps, N_AA) for eps in aa_eps}
    assert expected == {0.25: 0.0, 0.45: 100.0}
    out = tmp_path / "robustness.csv"
    robustness.main(["--data", str(data), "--model", str(model), "--out", str(out), "--params", str(params)])
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["seed", "attack", "eps", "error_pct", "n_images"]
    assert [(r["seed"], r["attack"], float(r["eps"])) for r in rows] == [
        (seed, attack, eps)
        for seed in ("0", "1")
        for attack, eps in [("fgsm", 0.0), ("pgd", 0.0), ("fgsm", 0.25), ("pgd", 0.25)]
        + [("autoattack", e) for e in aa_eps]
    ]
    for r in rows:
        assert int(r["n_images"]) == (N_AA if r["attack"] == "autoattack" else N_TEST)
        if r["attack"] == "autoattack":  # both seeds: the same decision boundaries
            assert float(r["error_pct"]) == pytest.approx(expected[float(r["eps"])]), r


def test_stage_attacks_only_the_listed_activations(tmp_path):
    """The fixture nets are ReLU: with robustness.autoattack.activations [tanh] the stage writes
    FGSM and PGD rows and no AutoAttack row."""
    aa = {"eps": [0.45], "images": N_AA, "activations": ["tanh"]}
    data, model, params, _, _ = write_stage_inputs(tmp_path, eps=[0.0], pgd_steps=2, clip=True, autoattack=aa)
    out = tmp_path / "robustness.csv"
    robustness.main(["--data", str(data), "--model", str(model), "--out", str(out), "--params", str(params)])
    attacks = [r["attack"] for r in csv.DictReader(out.read_text().splitlines())]
    assert attacks == ["fgsm", "pgd"] * 2


def test_stage_refuses_autoattack_without_clipping_in_one_line(tmp_path, capsys):
    data, model, params, _, _ = write_stage_inputs(
        tmp_path, clip=False, autoattack={"eps": [0.1], "images": 5, "activations": ["relu"]}
    )
    missing = tmp_path / "absent.pt"  # checked before any work: the data are never read
    with pytest.raises(SystemExit) as stop:
        robustness.main(
            ["--data", str(missing), "--model", str(model), "--out", str(tmp_path / "o.csv")]
            + ["--params", str(params)]
        )
    message = str(stop.value.code)
    assert "\n" not in message and "robustness.autoattack.eps" in message and "robustness.clip" in message
    # Off ([]), the unclipped threat model runs as before: FGSM and PGD rows only.
    data, model, params, _, _ = write_stage_inputs(
        tmp_path, eps=[0.1], pgd_steps=2, clip=False, autoattack={"eps": [], "images": 5, "activations": ["relu"]}
    )
    out = tmp_path / "robustness.csv"
    robustness.main(["--data", str(data), "--model", str(model), "--out", str(out), "--params", str(params)])
    assert {r["attack"] for r in csv.DictReader(out.read_text().splitlines())} == {"fgsm", "pgd"}


def test_warns_where_pgd_is_more_than_2_points_below_autoattack(caplog):
    pgd = {(0, "pgd", 0.1): torch.tensor([True] * 3 + [False] * 97 + [True] * 50)}  # 3 % on the first 100
    aa = {(0, "autoattack", 0.1): torch.tensor([True] * 5 + [False] * 95)}  # 5 %: 2 points, no warning
    with caplog.at_level(logging.INFO, logger="advgrad.robustness"):
        robustness.warn_masking(pgd, aa)
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        aa[(0, "autoattack", 0.1)][5] = True  # 6 %: 3 points above PGD's on the same 100 images
        robustness.warn_masking(pgd, aa)
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "PGD error 3.00%" in warning.getMessage() and "6.00%" in warning.getMessage()
