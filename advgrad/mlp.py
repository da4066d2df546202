"""The MNIST multilayer perceptron and the adversarial back-propagation step (paper, Algorithm 1).

All seeds of one configuration are trained as ONE stacked model: layer l holds
`W (S, in, out)` and `b (S, 1, out)`, seed s owning slice s. Every operation is a batched matmul
over the seed axis (`torch.bmm` / `torch.baddbmm`), so S independent networks cost one kernel
per layer instead of S (DESIGN.md, "Performance design"). The forward and backward passes are
written by hand rather than with autograd so that the step below reads as Algorithm 1, line by
line, and so that its first pass can compute the input gradient alone.

The protocol (paper section 3; the author's later Torch code, anokland/dfa-torch):
- hidden units logistic | tanh | relu; the output layer is logistic (sigmoid);
- loss J = binary cross-entropy on one-hot targets, summed over the output units and averaged
  over the mini-batch ("the learning rate was averaged over the number of samples in each
  mini-batch");
- weights ~ N(0, init_std = 0.01), biases 0; plain SGD, no momentum or weight decay.

Shapes: S seeds, B samples per mini-batch, `sizes = (784, h, h, 10)`. A batch is `(S, B, in)`,
each seed seeing its own samples; an input of shape `(B, in)` is shared by every seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advgrad.adversarial import fgsm

__all__ = ["ACTIVATIONS", "MLPConfig", "init_params", "forward", "loss", "input_gradient",
           "dropout_masks", "sgd_step", "error_rate", "to_modules"]

ACTIVATIONS = ("logistic", "tanh", "relu")

Params = list[tuple[Tensor, Tensor]]  # [(W (S, in, out), b (S, 1, out)) per layer]

# Clip range of the perturbed input when `clip=True`: pixels are scaled to [0, 1] (section 3).
INPUT_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class MLPConfig:
    """A fully connected net `sizes[0]-...-sizes[-1]`, hidden `activation`, sigmoid outputs.

    `dropout_input` / `dropout_hidden` are the drop probabilities of inverted dropout on the
    input and on every hidden layer (0 = off); only the Figure 2 "dropout" net uses them.
    """
    sizes: tuple[int, ...]
    activation: str
    dropout_input: float = 0.0
    dropout_hidden: float = 0.0

    def __post_init__(self):
        if len(self.sizes) < 2 or any(int(n) != n or n <= 0 for n in self.sizes):
            raise ValueError(f"MLPConfig.sizes = {self.sizes!r}: need at least two positive integers")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"MLPConfig.activation = {self.activation!r}: allowed: {', '.join(ACTIVATIONS)}")
        for name in ("dropout_input", "dropout_hidden"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"MLPConfig.{name} = {getattr(self, name)!r}: need a probability in [0, 1)")

    @property
    def has_dropout(self) -> bool:
        return self.dropout_input > 0 or self.dropout_hidden > 0


# ---------------------------------------------------------------------------------------------
# Parameters

def init_params(cfg: MLPConfig, seeds: Sequence[int], init_std: float, device) -> Params:
    """Weights ~ N(0, init_std), biases 0 (section 3), one independent draw per seed.

    Each seed draws from its own CPU generator, so seed s gets the same initial weights
    whichever other seeds are stacked with it and whichever device trains it.
    """
    per_seed = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        per_seed.append([torch.empty(n_in, n_out).normal_(0.0, init_std, generator=g)
                         for n_in, n_out in zip(cfg.sizes[:-1], cfg.sizes[1:])])
    params = []
    for layer, n_out in enumerate(cfg.sizes[1:]):
        W = torch.stack([weights[layer] for weights in per_seed]).to(device)  # (S, in, out)
        b = torch.zeros(len(seeds), 1, n_out, device=device)                  # (S, 1, out)
        params.append((W, b))
    return params


def to_modules(params: Params, cfg: MLPConfig) -> list[nn.Sequential]:
    """Per-seed copies as plain `nn.Sequential(Linear, act, ..., Linear)` returning logits.

    For attacks, analysis and the autograd oracles of the tests. Dropout is left out: inverted
    dropout needs no rescaling at evaluation time.
    """
    act_module = {"logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[cfg.activation]
    modules = []
    for s in range(params[0][0].shape[0]):
        layers: list[nn.Module] = []
        for W, b in params:
            linear = nn.Linear(W.shape[1], W.shape[2], device=W.device, dtype=W.dtype)
            with torch.no_grad():
                linear.weight.copy_(W[s].T)  # nn.Linear stores (out, in)
                linear.bias.copy_(b[s, 0])
            layers += [linear, act_module()]
        modules.append(nn.Sequential(*layers[:-1]))  # no nonlinearity after the last layer
    return modules


# ---------------------------------------------------------------------------------------------
# Forward and backward passes

def _activate(pre: Tensor, activation: str) -> Tensor:
    """Hidden nonlinearity, in place (`pre` is a fresh matmul result nobody else holds)."""
    if activation == "logistic":
        return pre.sigmoid_()
    if activation == "tanh":
        return pre.tanh_()
    return pre.relu_()


def _activation_backward(grad: Tensor, h: Tensor, activation: str) -> Tensor:
    """dJ/d(pre-activation) from dJ/dh, using the derivative written in terms of h = f(pre).

    Modifies `grad` in place (a fresh matmul result).
    """
    if activation == "logistic":
        return grad.mul_(h * (1 - h))
    if activation == "tanh":
        return grad.mul_(1 - h * h)
    # relu'(pre) = 1 where h > 0, else 0, which is sign(h) because h = relu(pre) >= 0. (The
    # same as `masked_fill_(h <= 0, 0)`; on CPU that boolean-mask kernel is 5-20x slower.)
    return grad.mul_(h.sign())


def _backprop_to_input(delta: Tensor, W: Tensor) -> Tensor:
    """dJ/d(layer input) = delta @ W^T, `(S, B, in)` from delta (S, B, out) and W (S, in, out).

    Computed as (W @ delta^T)^T, a transposed view: at B = 10, MKL on CPU is faster with the
    weights as the left operand in their stored layout than as a transposed right operand
    (measured, one thread, 784x800: ~0.25 vs ~0.35 ms per seed; 1200x1200: ~0.6 vs ~0.9 ms).
    """
    return torch.bmm(W, delta.transpose(1, 2)).transpose(1, 2)


def _per_seed(x: Tensor, n_seeds: int) -> Tensor:
    """(B, in) shared by all seeds -> a (S, B, in) view; (S, B, in) is returned as is."""
    return x.expand(n_seeds, *x.shape) if x.dim() == 2 else x


def forward(params: Params, x: Tensor, activation: str) -> Tensor:
    """Logits (pre-sigmoid outputs) `(S, B, out)` of every seed; x is (S, B, in) or (B, in)."""
    a = _per_seed(x, params[0][0].shape[0])
    for layer, (W, b) in enumerate(params):
        a = torch.baddbmm(b, a, W)  # (S, B, out) = b + a @ W
        if layer < len(params) - 1:
            a = _activate(a, activation)
    return a


def _forward_keep(params: Params, x: Tensor, activation: str, masks) -> tuple[list, list, Tensor]:
    """Forward pass that keeps what the backward pass needs.

    Returns `inputs[l]`, the input of layer l after dropout (for the weight gradient), `hidden[l]`,
    the output of hidden layer l before dropout (for the activation derivative), and the logits.
    """
    inputs, hidden = [], []
    a = x if masks[0] is None else x * masks[0]
    for layer, (W, b) in enumerate(params):
        inputs.append(a)
        pre = torch.baddbmm(b, a, W)  # (S, B, out)
        if layer == len(params) - 1:
            return inputs, hidden, pre
        h = _activate(pre, activation)
        hidden.append(h)
        a = h if masks[layer + 1] is None else h * masks[layer + 1]


def _hidden_backward(grad: Tensor, h: Tensor, mask: Tensor | None, activation: str) -> Tensor:
    """dJ/d(pre-activation) of a hidden layer from dJ/d(its dropped-out output)."""
    if mask is not None:
        grad = grad.mul_(mask)
    return _activation_backward(grad, h, activation)


def _one_hot(y: Tensor, n_out: int, dtype: torch.dtype) -> Tensor:
    """(..., n_out) one-hot rows. A scatter rather than `F.one_hot`, which checks the label range
    on the host (a device synchronisation on GPUs when the number of classes is not given)."""
    return torch.zeros(*y.shape, n_out, dtype=dtype, device=y.device).scatter_(-1, y.unsqueeze(-1), 1.0)


def _loss(logits: Tensor, target: Tensor) -> Tensor:
    """J per seed (S,) from logits (S, B, out) and one-hot targets broadcastable to them."""
    target = target.expand_as(logits)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1).mean(-1)


def loss(logits: Tensor, y: Tensor) -> Tensor:
    """Per-seed J: sigmoid cross-entropy on one-hot targets, summed over units, mean over batch.

    logits (S, B, out), y (S, B) or (B,) class indices -> (S,).
    """
    return _loss(logits, _one_hot(y, logits.shape[-1], logits.dtype))


def _output_delta(logits: Tensor, target: Tensor) -> Tensor:
    """dJ/d(logits): for sigmoid + cross-entropy the derivative is (sigmoid(z) - y), and the
    mean over the mini-batch contributes 1/B. (S, B, out)."""
    return torch.sigmoid(logits).sub_(target).div_(logits.shape[1])


def _input_gradient(params: Params, x: Tensor, target: Tensor, activation: str, masks) -> Tensor:
    """Algorithm 1, steps 1-2: forward x, back-propagate the error all the way to the input.

    Only the input gradient is needed (its sign, eq. 2), so the weight-gradient matmuls of a
    normal backward pass are skipped: this pass costs one forward and one backward-to-input.
    (The 1/B of the batch mean in `_output_delta` cannot change a sign; it is kept so the
    result is exactly dJ/dx and can be checked against autograd.)
    """
    _, hidden, logits = _forward_keep(params, x, activation, masks)
    delta = _output_delta(logits, target)                            # (S, B, out)
    for layer in range(len(params) - 1, 0, -1):
        grad_h = _backprop_to_input(delta, params[layer][0])          # (S, B, in_l)
        delta = _hidden_backward(grad_h, hidden[layer - 1], masks[layer], activation)
    grad_x = _backprop_to_input(delta, params[0][0])                  # (S, B, in)
    return grad_x if masks[0] is None else grad_x.mul_(masks[0])


def input_gradient(params: Params, x: Tensor, y: Tensor, activation: str) -> Tensor:
    """dJ/dx `(S, B, in)` of the clean (no dropout) network; x (S, B, in) or (B, in)."""
    x = _per_seed(x, params[0][0].shape[0])
    target = _one_hot(y, params[-1][0].shape[2], x.dtype)
    return _input_gradient(params, x, target, activation, [None] * len(params))


# ---------------------------------------------------------------------------------------------
# The training step

def dropout_masks(cfg: MLPConfig, batch_size: int, generators: Sequence[torch.Generator] | None,
                  device, dtype: torch.dtype = torch.float32) -> list[Tensor | None]:
    """Inverted-dropout masks for the input of every layer: `masks[l]` is (S, B, in_l) or None.

    A kept unit is scaled by 1/(1-p) so that no rescaling is needed at test time. Seed s draws
    from `generators[s]` (a generator on `device`) layer after layer, so its masks do not depend
    on which other seeds are stacked with it.
    """
    rates = [cfg.dropout_input] + [cfg.dropout_hidden] * (len(cfg.sizes) - 2)
    if not cfg.has_dropout:
        return [None] * len(rates)
    if generators is None:
        raise ValueError("sgd_step: the config uses dropout but no dropout generators were given")
    masks = []
    for n_in, p in zip(cfg.sizes[:-1], rates):
        if p == 0:
            masks.append(None)
            continue
        keep = torch.stack([torch.rand(batch_size, n_in, generator=g, device=device, dtype=dtype) >= p
                            for g in generators])                   # (S, B, in_l)
        masks.append(keep.to(dtype) / (1 - p))
    return masks


def sgd_step(params: Params, x: Tensor, y: Tensor, cfg: MLPConfig, lr: float, eps: float,
             clip: bool = False, generators: Sequence[torch.Generator] | None = None,
             masks: list[Tensor | None] | None = None) -> Tensor:
    """One step of adversarial back-propagation (Algorithm 1) on every seed; params updated in place.

    x (S, B, in) float, y (S, B) class indices. With eps = 0 the first pass is skipped entirely
    and this is exactly standard back-propagation + SGD. `clip` clips the perturbed input to
    [0, 1] (the author's code does not). With dropout, masks are drawn from `generators` (one
    per seed) unless given in `masks` (as returned by `dropout_masks`).

    Returns the per-seed loss (S,) of the objective being minimised, J at the input actually
    trained on (eq. 1: F = J(theta, x + mu, y)), before the update; it stays on the device.
    """
    x = _per_seed(x, params[0][0].shape[0])                          # (S, B, in)
    target = _one_hot(y, cfg.sizes[-1], x.dtype)                     # (S, B, out)
    if masks is None:
        masks = dropout_masks(cfg, x.shape[1], generators, x.device, x.dtype)
    # With dropout, both passes use the SAME masks: the perturbation is then the adversarial
    # direction of the very thinned network that this step trains (a fresh mask would aim the
    # perturbation at a different network). The paper does not combine the two on MNIST.

    if eps > 0:
        # Steps 1-2: forward x and back-propagate the error to the input layer only.
        e = _input_gradient(params, x, target, cfg.activation, masks)
        # Step 3: z = x + eps * sign(e)   (eq. 2; sign(0) = 0).
        x = fgsm(x, e, eps, INPUT_RANGE if clip else None)

    # Step 4: standard forward and backward pass on z (on x when eps = 0) ...
    inputs, hidden, logits = _forward_keep(params, x, cfg.activation, masks)
    delta = _output_delta(logits, target)                            # dJ/d(logits), (S, B, out)
    for layer in range(len(params) - 1, -1, -1):
        W, b = params[layer]
        if layer > 0:  # the first layer's input gradient is not needed for learning
            grad_h = _backprop_to_input(delta, W)                    # (S, B, in_l), before W moves
        # ... Step 5: plain SGD with the gradients of step 4, dJ/dW = input^T delta, dJ/db = sum delta.
        W.baddbmm_(inputs[layer].transpose(1, 2), delta, alpha=-lr)  # (S, in_l, out_l)
        b.sub_(delta.sum(1, keepdim=True), alpha=lr)                 # (S, 1, out_l)
        if layer > 0:
            delta = _hidden_backward(grad_h, hidden[layer - 1], masks[layer], cfg.activation)
    return _loss(logits, target)


# ---------------------------------------------------------------------------------------------
# Evaluation

@torch.no_grad()
def error_rate(params: Params, x: Tensor, y: Tensor, activation: str, chunk: int = 2000) -> Tensor:
    """Clean classification error (S,) of every seed on a whole split, as a fraction.

    x (N, in) and y (N,) are shared by all seeds; evaluated `chunk` samples at a time to bound
    memory ((S, chunk, h) activations; larger chunks were no faster on CPU). The predicted class
    is the largest logit, which is also the largest sigmoid output. Errors are counted exactly
    and divided in float64.
    """
    errors = torch.zeros(params[0][0].shape[0], dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[0], chunk):
        logits = forward(params, x[start:start + chunk], activation)  # (S, chunk, out)
        errors += (logits.argmax(-1) != y[start:start + chunk]).sum(-1)
    return errors.double() / x.shape[0]
