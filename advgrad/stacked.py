"""The fast path of MNIST training: the stacked MLP with hand-written passes, and its SGD driver.

This is `advgrad.algorithm1.adversarial_step` on `advgrad.mnist_model`'s net and loss, made fast
for the paper's batch of 10, where a step is a few dozen tiny kernels. The tests check it against
the reference step (tests/test_fast_path.py, tests/test_stacked.py, tests/test_mnist_trainer.py):
equal to float tolerance, per seed, for every activation, eps and dropout.

- All seeds of one configuration are ONE stacked model: layer l holds `W (S, in, out)` and
  `b (S, 1, out)`, seed s owning slice s. Every operation is a batched matmul over the seed axis
  (`torch.bmm` / `torch.baddbmm`), so S networks cost one kernel per layer instead of S.
- The forward and backward passes are written by hand, so that the first pass of Algorithm 1
  computes the input gradient alone (autograd would compute the weight gradients too).
- `StackedSGD` runs the steps: on CPU the seeds are split into one group per core, each trained
  by its own single-threaded worker thread (matrix kernels release the GIL); on CUDA the whole
  step is captured once as a CUDA graph and replayed, since a GPU would otherwise wait on Python
  to launch each tiny kernel. If capture or replay fails, it falls back to the eager step.

Shapes: S seeds, B samples per mini-batch, `sizes = (784, h, h, 10)`. A batch is `(S, B, in)`,
each seed seeing its own samples; an input of shape `(B, in)` is shared by every seed.
Grouping can change float rounding, so results are bit-identical for one worker count.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advgrad.adversarial import fgsm
from advgrad.mnist_model import MLPConfig, build_mlp, input_range

if TYPE_CHECKING:
    from advgrad.mnist_trainer import TrainConfig

__all__ = ["Params", "init_params", "state_dicts", "to_modules", "forward", "loss", "input_gradient",
           "dropout_masks", "sgd_step", "error_rate", "worker_layout", "StackedSGD"]

log = logging.getLogger("advgrad")

Params = list[tuple[Tensor, Tensor]]  # [(W (S, in, out), b (S, 1, out)) per layer]


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


def state_dicts(params: Params, cfg: MLPConfig) -> list[dict[str, Tensor]]:
    """Per-seed `state_dict`s of `mnist_model.build_mlp(cfg)`, on the CPU."""
    linears = [name for name, m in build_mlp(cfg).named_modules() if isinstance(m, nn.Linear)]
    return [{f"{name}.{kind}": t for name, (W, b) in zip(linears, params, strict=True)
             for kind, t in (("weight", W[s].T.cpu().clone()), ("bias", b[s, 0].cpu().clone()))}
            for s in range(params[0][0].shape[0])]  # nn.Linear stores its weight as (out, in)


def to_modules(params: Params, cfg: MLPConfig) -> list[nn.Sequential]:
    """Per-seed copies as plain `build_mlp(cfg)` modules (attacks, analysis, the oracle tests)."""
    modules = []
    for sd in state_dicts(params, cfg):
        module = build_mlp(cfg)
        module.load_state_dict(sd)
        modules.append(module)
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
    rates = cfg.dropout_rates
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


def _clean_gradients(params: Params, x: Tensor, target: Tensor, activation: str, masks):
    """Goodfellow et al.'s first pass: forward x, then ONE backward pass giving both the weight
    gradients of J(x) [(dW, db) per layer] and dJ/dx, and J(x) per seed."""
    inputs, hidden, logits = _forward_keep(params, x, activation, masks)
    delta = _output_delta(logits, target)                            # (S, B, out)
    grads = [None] * len(params)
    for layer in range(len(params) - 1, -1, -1):
        grad_in = _backprop_to_input(delta, params[layer][0])        # (S, B, in_l)
        grads[layer] = (torch.bmm(inputs[layer].transpose(1, 2), delta), delta.sum(1, keepdim=True))
        delta = (_hidden_backward(grad_in, hidden[layer - 1], masks[layer], activation) if layer > 0
                 else (grad_in if masks[0] is None else grad_in.mul_(masks[0])))
    return grads, delta, _loss(logits, target)


def sgd_step(params: Params, x: Tensor, y: Tensor, cfg: MLPConfig, lr: float, eps: float,
             clip: bool = False, generators: Sequence[torch.Generator] | None = None,
             masks: list[Tensor | None] | None = None, clean_weight: float = 0.0) -> Tensor:
    """One SGD step of adversarial back-propagation (Algorithm 1) on every seed, in place.

    x (S, B, in) float, y (S, B) class indices. With eps = 0 the first pass is skipped entirely
    and this is exactly standard back-propagation + SGD. `clip` clips the perturbed input to
    the valid pixel range (the author's code does not). With dropout, masks are drawn from
    `generators` (one per seed) unless given in `masks` (as returned by `dropout_masks`).
    `clean_weight` a > 0 (with eps > 0) is Goodfellow et al.'s (2014) objective instead,
    a J(x) + (1 - a) J(x + eps sign(grad_x J(x))) (their eq. 3, a = 0.5).

    Returns the per-seed loss (S,) of the objective being minimised, before the update (eq. 1:
    F = J(theta, x + mu, y)); it stays on the device.
    """
    x = _per_seed(x, params[0][0].shape[0])                          # (S, B, in)
    target = _one_hot(y, cfg.sizes[-1], x.dtype)                     # (S, B, out)
    if masks is None:
        masks = dropout_masks(cfg, x.shape[1], generators, x.device, x.dtype)
    # With dropout, both passes use the SAME masks: the perturbation is then the adversarial
    # direction of the very thinned network that this step trains (a fresh mask would aim the
    # perturbation at a different network). The paper does not combine the two on MNIST.
    clean = None
    if eps > 0:
        if clean_weight > 0:  # Goodfellow et al.: the clean pass is trained on too
            clean, e, clean_loss = _clean_gradients(params, x, target, cfg.activation, masks)
        else:
            # Steps 1-2: forward x and back-propagate the error to the input layer only.
            e = _input_gradient(params, x, target, cfg.activation, masks)
        # Step 3: z = x + eps * sign(e)   (eq. 2; sign(0) = 0).
        x = fgsm(x, e, eps, input_range(cfg) if clip else None)
    step = lr if clean is None else lr * (1 - clean_weight)

    # Step 4: standard forward and backward pass on z (on x when eps = 0) ...
    inputs, hidden, logits = _forward_keep(params, x, cfg.activation, masks)
    delta = _output_delta(logits, target)                            # dJ/d(logits), (S, B, out)
    for layer in range(len(params) - 1, -1, -1):
        W, b = params[layer]
        if layer > 0:  # the first layer's input gradient is not needed for learning
            grad_h = _backprop_to_input(delta, W)                    # (S, B, in_l), before W moves
        # ... Step 5: plain SGD with the gradients of step 4, dJ/dW = input^T delta, dJ/db = sum delta.
        W.baddbmm_(inputs[layer].transpose(1, 2), delta, alpha=-step)  # (S, in_l, out_l)
        b.sub_(delta.sum(1, keepdim=True), alpha=step)                   # (S, 1, out_l)
        if clean is not None:
            W.sub_(clean[layer][0], alpha=lr * clean_weight)
            b.sub_(clean[layer][1], alpha=lr * clean_weight)
        if layer > 0:
            delta = _hidden_backward(grad_h, hidden[layer - 1], masks[layer], cfg.activation)
    loss = _loss(logits, target)
    return loss if clean is None else clean_weight * clean_loss + (1 - clean_weight) * loss


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


# ---------------------------------------------------------------------------------------------
# Running the steps: worker groups on CPU, a CUDA graph on GPUs

def _gather(x: Tensor, y: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
    """Mini-batch `idx` (S, B) of every seed: inputs (S, B, in) and labels (S, B).

    `index_select` on the flat indices rather than `x[idx]`: on CPU it is ~4x faster.
    """
    flat = idx.reshape(-1)
    return x.index_select(0, flat).view(*idx.shape, -1), y.index_select(0, flat).view(idx.shape)


class _Stopped(Exception):
    """Raised in a worker thread when the training loop is being left (error, Ctrl-C)."""


class _CapturedStep:
    """`step(idx, loss_sum)` on static buffers: captured once as a CUDA graph, then replayed.

    A graph replays fixed kernels on fixed memory, so the step reads its mini-batch through the
    static index buffer `idx` (S, B), updates the parameters in place (their storage never
    moves) and adds its loss into the static `loss_sum` (S,). On a CPU nothing is captured and
    the same static-buffer step runs eagerly (this is how the tests exercise it).
    """

    def __init__(self, step: Callable[[Tensor, Tensor], None], params: Params,
                 shape: tuple[int, int], device: torch.device):
        self.step = step
        self.idx = torch.zeros(shape, dtype=torch.int64, device=device)   # (S, B)
        self.loss_sum = torch.zeros(shape[0], device=device)             # (S,)
        self.graph = None
        # CUDA wants a few eager runs on a side stream before capture (lazy initialisation of
        # cuBLAS and the allocator). They are not training: the parameters are put back after.
        saved = [(W.clone(), b.clone()) for W, b in params]
        if device.type == "cuda":
            side = torch.cuda.Stream(device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(3):
                    step(self.idx, self.loss_sum)
            torch.cuda.current_stream(device).wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                step(self.idx, self.loss_sum)
        else:
            step(self.idx, self.loss_sum)  # one eager warm-up too, so tests can see it undone
        for (W, b), (W0, b0) in zip(params, saved):
            W.copy_(W0)
            b.copy_(b0)
        self.loss_sum.zero_()

    def __call__(self, idx: Tensor) -> None:
        self.idx.copy_(idx)
        if self.graph is None:
            self.step(self.idx, self.loss_sum)
        else:
            self.graph.replay()


def worker_layout(n_seeds: int, device, workers: int | None = None) -> tuple[int, int]:
    """(worker threads, intra-op threads per worker) of `StackedSGD` for `n_seeds` seeds.

    Default: on CPU one worker per torch thread (torch's default is one per core), at most one
    per seed; on other devices one worker. Several workers run single-threaded (measured on 2
    cores, see reports/benchmark.md); a lone worker keeps torch's thread count.
    """
    if workers is None:
        workers = min(n_seeds, torch.get_num_threads()) if torch.device(device).type == "cpu" else 1
    if not 1 <= workers <= n_seeds:
        raise ValueError(f"StackedSGD: workers = {workers}: need 1 to {n_seeds} (one per seed at most)")
    return workers, 1 if workers > 1 else torch.get_num_threads()


class StackedSGD:
    """Runs the SGD steps and the evaluations of one configuration on the data's device.

    `params` (stacked over all S seeds) are updated in place. The seeds are split into
    `workers` contiguous groups, each a stacked model of its own (views of `params`) trained by
    its own thread, all with the same per-op code (`advgrad.sgd_step`).

    - CPU, by default (`worker_layout`) one single-threaded worker per core. At batch 10 an op
      is too small to share between cores, and OpenMP's threads spin and stall as soon as a
      core is also busy with anything else; independent single-threaded workers simply share it.
    - CUDA: one group, and without dropout `graph=True`: the full-batch step is captured once as
      a CUDA graph and replayed. (`graph=True` on CPU runs the same static-buffer step eagerly;
      dropout configurations run eagerly, as their per-seed generators would need registering
      with the graph.)

    The grouping can change float rounding (see the module docstring), so a run is
    bit-identical to another only with the same worker count. Use as a context manager: it sets
    torch's intra-op thread count for the workers and restores it on exit, and a worker still
    inside an epoch when the block is left (an error, Ctrl-C) stops at its next step.
    """

    def __init__(self, cfg: TrainConfig, params: Params, dropout_rng: Sequence[torch.Generator],
                 train: tuple[Tensor, Tensor], workers: int | None = None, graph: bool | None = None):
        self.cfg, self.params = cfg, params
        self.x, self.y = train
        device = self.x.device
        n_seeds = len(cfg.seeds)
        workers, self.threads = worker_layout(n_seeds, device, workers)
        bounds = [round(i * n_seeds / workers) for i in range(workers + 1)]
        self.groups = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]  # contiguous seeds
        self._group_params = [[(W[g], b[g]) for W, b in params] for g in self.groups]
        self._group_rng = [list(dropout_rng[g]) for g in self.groups]
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        if graph is None:
            graph = device.type == "cuda" and not cfg.mlp.has_dropout
        if graph and (workers > 1 or cfg.mlp.has_dropout):
            raise ValueError("StackedSGD: graph=True needs one worker and no dropout")
        self._graph = graph
        self._captured: _CapturedStep | None = None

    def __enter__(self) -> StackedSGD:
        if self._graph:
            try:
                self._captured = _CapturedStep(self._graph_step, self.params,
                                               (len(self.cfg.seeds), self.cfg.batch_size), self.x.device)
            except RuntimeError as err:  # a GPU or driver that cannot capture: train eagerly
                log.warning("CUDA graph capture failed (%s); training with the eager step",
                            str(err).splitlines()[0] if str(err) else type(err).__name__)
                self._captured = None
        self._stop.clear()
        self._saved_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        self._pool = ThreadPoolExecutor(len(self.groups)) if len(self.groups) > 1 else None
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        torch.set_num_threads(self._saved_threads)

    def _map(self, fn: Callable[[int], Tensor]) -> Tensor:
        """fn(group) for every group, on the workers; results concatenated over the seed axis."""
        if self._pool is None:
            return torch.cat([fn(g) for g in range(len(self.groups))])
        return torch.cat(list(self._pool.map(fn, range(len(self.groups)))))

    def _graph_step(self, idx: Tensor, loss_sum: Tensor) -> None:
        self._step(0, idx, loss_sum)

    def _step(self, group: int, idx: Tensor, loss_sum: Tensor) -> None:
        """One SGD step of one group on mini-batch `idx` (S_g, B); its summed loss into loss_sum."""
        cfg = self.cfg
        x, y = _gather(self.x, self.y, idx)                           # (S_g, B, in), (S_g, B)
        loss = sgd_step(self._group_params[group], x, y, cfg.mlp, cfg.lr, cfg.eps, cfg.clip,
                        self._group_rng[group], clean_weight=cfg.clean_weight)  # (S_g,) on the device
        loss_sum.add_(loss, alpha=idx.shape[1])

    def _group_steps(self, group: int, order: Tensor) -> Tensor:
        """The steps of one group over its rows of the order (S_g, n); its summed loss (S_g,)."""
        loss_sum = torch.zeros(order.shape[0], device=order.device)  # (S_g,)
        if self._captured is not None:
            self._captured.loss_sum.zero_()
        for idx in order.split(self.cfg.batch_size, dim=1):           # (S_g, B); the last may be smaller
            if self._stop.is_set():
                raise _Stopped
            if self._captured is not None and idx.shape[1] == self.cfg.batch_size:
                try:
                    self._captured(idx)
                    continue
                except RuntimeError as err:  # a failed replay: the eager step from here on
                    log.warning("CUDA graph replay failed (%s); training with the eager step",
                                str(err).splitlines()[0] if str(err) else type(err).__name__)
                    loss_sum += self._captured.loss_sum
                    self._captured = None
            self._step(group, idx, loss_sum)
        return loss_sum if self._captured is None else loss_sum + self._captured.loss_sum

    def steps(self, order: Tensor) -> Tensor:
        """SGD over the mini-batches of `order` (S, n): row s lists the training samples of seed s
        in the order it sees them. Returns each seed's loss summed over the n samples (S,)."""
        return self._map(lambda g: self._group_steps(g, order[self.groups[g]]))

    def errors(self, x: Tensor, y: Tensor) -> Tensor:
        """Clean error rate (S,) of every seed on the split (x (N, in), y (N,)), float64."""
        return self._map(lambda g: error_rate(self._group_params[g], x, y, self.cfg.mlp.activation))
