"""The perturbed input z = x + eps * sign(grad_x J) of Algorithm 1, step 3, against oracles.

(a) torchattacks.FGSM, an independent implementation: it uses softmax cross-entropy and clamps
    to [0, 1], so it is compared with `advgrad.core.adversarial.fgsm_autograd` under the same loss.
(b) Our sigmoid cross-entropy (summed over units, mean over the batch), through the input
    gradient of the stacked model's summed per-seed loss (`advgrad.mnist.model.StackedMLP`, as
    Algorithm 1 takes it): a hand-set linear model whose answer is worked out below, and
    autograd on the per-seed `nn.Sequential` copies.
Sizes are tiny (20 inputs, 16 hidden units, a few samples) to keep the file fast.
"""

import pytest
import torch
import torch.nn.functional as F
import torchattacks

from advgrad.core.adversarial import fgsm, fgsm_autograd, input_gradient
from advgrad.core.names import ACTIVATIONS
from advgrad.mnist.model import MLPConfig, StackedMLP, bce_loss, to_modules

SIZES = (20, 16, 16, 10)
SEEDS = (0, 1, 2)
B = 6
UNIT = (0.0, 1.0)


def _bce(logits, y):
    """Reference J: BCE on one-hot targets, summed over units and batch, divided by B."""
    target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


def _fixture(activation, lo=0.0, hi=1.0):
    cfg = MLPConfig(SIZES, activation)
    # A larger init than the paper's 0.01 so that the tiny net's input gradient is far from 0.
    model = StackedMLP(cfg, SEEDS, init_std=0.3)
    g = torch.Generator().manual_seed(123)
    x = lo + (hi - lo) * torch.rand(len(SEEDS), B, SIZES[0], generator=g)  # (S, B, in)
    y = torch.randint(0, SIZES[-1], (len(SEEDS), B), generator=g)  # (S, B)
    return cfg, model, x, y


def _stacked_input_gradient(model, x, y):
    return input_gradient(lambda v: bce_loss(model(v), y).sum(), x)


# --- (a) torchattacks ------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("eps", [0.08, 0.25])
def test_fgsm_autograd_matches_torchattacks_clipped(activation, eps):
    cfg, stacked, x, y = _fixture(activation)
    for s, model in enumerate(to_modules(stacked.state_dict(), cfg)):
        expected = torchattacks.FGSM(model, eps=eps)(x[s], y[s])
        ours = fgsm_autograd(lambda v, model=model, s=s: F.cross_entropy(model(v), y[s]), x[s], eps, clip=UNIT)
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)
        assert (ours != x[s]).float().mean() > 0.5  # the perturbation actually moved the input


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fgsm_autograd_matches_torchattacks_unclipped_inside_range(activation):
    # Inputs in [0.2, 0.8] with eps 0.1: torchattacks' clamp to [0, 1] is then a no-op.
    eps = 0.1
    cfg, stacked, x, y = _fixture(activation, lo=0.2, hi=0.8)
    for s, model in enumerate(to_modules(stacked.state_dict(), cfg)):
        expected = torchattacks.FGSM(model, eps=eps)(x[s], y[s])
        ours = fgsm_autograd(lambda v, model=model, s=s: F.cross_entropy(model(v), y[s]), x[s], eps, clip=None)
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)


# --- (b) our loss: hand-set linear model -----------------------------------------------------


def test_input_gradient_and_perturbation_of_hand_set_linear_model():
    """A 4-3 linear model (no hidden layer) whose logits are all 0 at x = 0.5.

    W (in=4, out=3) = [[1,0,0],[0,1,0],[0,0,0],[1,1,1]], b = -0.5 * column sums = [-1,-1,-0.5],
    so sigmoid(xW + b) = 0.5 for every unit. Sample 1 has label 1, sample 2 label 0:
      delta = sigmoid - onehot = [0.5,-0.5,0.5] and [-0.5,0.5,0.5];
      grad_x = W delta / B (B = 2) = [0.25,-0.25,0,0.25] and [-0.25,0.25,0,0.25].
    Input 3 has no weights, so its gradient is exactly 0 and sign(0) = 0 leaves it alone.
    """
    W = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 0], [1, 1, 1]])
    b = torch.tensor([-1.0, -1.0, -0.5])
    model = StackedMLP(MLPConfig((4, 3), "relu"), (0,), 0.1)  # S = 1; activation unused: no hidden layer
    model.load_state_dict({"weights.0": W[None], "biases.0": b[None, None]})
    x = torch.full((1, 2, 4), 0.5)
    y = torch.tensor([[1, 0]])

    grad = _stacked_input_gradient(model, x, y)
    expected_grad = torch.tensor([[[0.25, -0.25, 0, 0.25], [-0.25, 0.25, 0, 0.25]]])
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-7)
    assert grad[0, :, 2].eq(0).all()

    z = fgsm(x, grad, 0.08)
    torch.testing.assert_close(z, torch.tensor([[[0.58, 0.42, 0.5, 0.58], [0.42, 0.58, 0.5, 0.58]]]), rtol=0, atol=1e-7)
    # eps 0.6 leaves [0, 1]; clipping brings it back.
    z_free = fgsm(x, grad, 0.6)
    z_clip = fgsm(x, grad, 0.6, UNIT)
    torch.testing.assert_close(
        z_free, torch.tensor([[[1.1, -0.1, 0.5, 1.1], [-0.1, 1.1, 0.5, 1.1]]]), rtol=0, atol=1e-6
    )
    torch.testing.assert_close(z_clip, torch.tensor([[[1.0, 0.0, 0.5, 1.0], [0.0, 1.0, 0.5, 1.0]]]), rtol=0, atol=0)


# --- (b) our loss: autograd on nn.Sequential copies -----------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("clip", [None, UNIT], ids=["unclipped", "clipped"])
def test_mlp_input_gradient_and_perturbation_match_autograd(activation, clip):
    eps = 0.08
    cfg, stacked, x, y = _fixture(activation)
    grad = _stacked_input_gradient(stacked, x, y)  # (S, B, in)
    z = fgsm(x, grad, eps, clip)
    for s, model in enumerate(to_modules(stacked.state_dict(), cfg)):
        expected = fgsm_autograd(lambda v, model=model, s=s: _bce(model(v), y[s]), x[s], eps, clip)
        torch.testing.assert_close(z[s], expected, rtol=0, atol=0)
        x_ref = x[s].clone().requires_grad_(True)
        _bce(model(x_ref), y[s]).backward()
        torch.testing.assert_close(grad[s], x_ref.grad, rtol=1e-5, atol=1e-7)
    if clip is None:
        assert (z < 0).any() or (z > 1).any()  # the fixture reaches outside [0, 1] unclipped
