"""The training loop of every net of the paper: MNIST (Table 2) and CIFAR-10 (Table 3).

One `fit` call trains one model: all S seeds of an MNIST configuration stacked into one module
(`advgrad.mnist.model.StackedMLP`, batches (S, B, ...)), or one CIFAR-10 net (S = 1, batches
(B, ...)). Read top to bottom, an epoch is:

    for every seed, a permutation of the training set     ("shuffled after each epoch", section 3)
    for each mini-batch:  step (Algorithm 1, advgrad.core.algorithm1; CIFAR-10's adds max-norm)
    check the loss for divergence                          (one host sync per epoch)
    clean training and test error of every seed            (Figure 1's curves, Tables 2-3)
    the schedule, if any, sets the next learning rate or stops (CIFAR-10's halving rule)

Every random draw belongs to one seed: seed s shuffles with its own CPU generator (so the order
is the same on every device) and draws its dropout masks from its own device generator
(`advgrad.core.dropout`), so a seed's run does not depend on the seeds trained beside it. The state
handed to `on_epoch` after every epoch (model, optimizer, schedule and generator states, curves)
resumes the run bit-identically on the same device.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from advgrad.core.dropout import use_generators
from advgrad.core.evaluation import error_rate

# (model, optimizer, x, y, rng) -> (logits, loss): one update; loss is a scalar or one per seed
# (S,); rng: one device generator per seed for what the step itself draws (the random control)
Step = Callable[[nn.Module, torch.optim.Optimizer, Tensor, Tensor, list[torch.Generator]], tuple[Tensor, Tensor]]


def stream_seed(seed: int, stream: str) -> int:
    """A seed for one random stream ("shuffle", "dropout", "noise") of run `seed`.

    Hashing keeps the streams of one run apart from each other and from its weight
    initialisation (`torch.Generator().manual_seed(seed)`).
    """
    digest = hashlib.sha256(f"advgrad/{seed}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # 63 bits: a valid manual_seed


def _generators(seeds: Sequence[int], stream: str, device, states: Sequence[Tensor] | None) -> list[torch.Generator]:
    gens = []
    for i, seed in enumerate(seeds):
        g = torch.Generator(device=device)
        g.manual_seed(stream_seed(seed, stream)) if states is None else g.set_state(states[i])
        gens.append(g)
    return gens


def _cpu_copy(tree):
    """A deep copy of a (nested) state dict with every tensor on the CPU."""
    if isinstance(tree, Tensor):
        return tree.detach().to("cpu", copy=True)
    if isinstance(tree, dict):
        return {k: _cpu_copy(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cpu_copy(v) for v in tree)
    return copy.deepcopy(tree)


def _check_finite(model: nn.Module, loss_sum: Tensor, seeds: Sequence[int], epoch: int, lr: float) -> None:
    """A seed whose loss or weights are no longer finite fails here, naming seed and epoch,
    rather than after 150 epochs. One host sync per epoch."""
    n = len(seeds)
    ok = torch.isfinite(loss_sum).reshape(n)
    for p in model.parameters():  # a stacked model's parameters lead with the seed axis
        ok = ok & (p.reshape(n, -1).isfinite().all(1) if n > 1 else p.isfinite().all().reshape(1))
    bad = (~ok).nonzero().flatten().tolist()
    if bad:
        s = bad[0]
        raise FloatingPointError(
            f"seed {seeds[s]} diverged in epoch {epoch}: training loss is "
            f"{loss_sum.reshape(n)[s].item()} (learning rate {lr:g} too large?)"
        )


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: Step,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    seeds: Sequence[int],
    batch_size: int,
    *,
    epochs: int | None = None,
    schedule=None,
    state: dict | None = None,
    on_epoch: Callable[[dict, float], None] | None = None,
    eval_chunk: int = 2000,
) -> dict:
    """Train `model` on `train` for `epochs` epochs, or until `schedule.step` says stop.

    train, test: (x (N, ...), y (N,) int64) on the model's device. `seeds` are the seeds the model
    holds, in its order (a stacked model's seed axis). `schedule` (CIFAR-10's `HalvingSchedule`)
    gets each epoch's online training error and sets the optimizer's learning rate. `state` is
    one that this function handed to `on_epoch` (and is not modified): training continues
    exactly where it stopped. Returns the final state:

        {"epoch", "model", "optimizer", "schedule", "shuffle_rng", "dropout_rng", "noise_rng", "curves"}

    (model and optimizer as CPU state_dicts), curves holding one row per seed and epoch:
    epoch (from 1), seed, train_error and test_error (clean, eval mode, whole split), train_loss
    (the trained objective, mean per sample), online_train_error (the predictions the updates
    were computed from: perturbed, dropped-out inputs where the method uses them) and lr, errors
    as fractions.
    """
    x, y = train
    device, n, n_seeds = x.device, len(x), len(seeds)
    stacked = getattr(model, "stacked", False)
    if not stacked and n_seeds != 1:
        raise ValueError(f"fit: a model that is not stacked holds one seed, got {n_seeds}")
    if schedule is None and epochs is None:
        raise ValueError("fit: give epochs or a schedule")
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if schedule is not None:
            schedule.load_state_dict(state["schedule"])
    shuffle_rng = _generators(seeds, "shuffle", "cpu", state and state["shuffle_rng"])
    dropout_rng = _generators(seeds, "dropout", device, state and state["dropout_rng"])
    noise_rng = _generators(seeds, "noise", device, state and state["noise_rng"])
    use_generators(model, dropout_rng)
    epoch = state["epoch"] if state else 0
    curves = list(state["curves"]) if state else []

    done = epoch >= epochs if schedule is None else schedule.stop_reason is not None
    while not done:
        start, epoch, lr = time.perf_counter(), epoch + 1, optimizer.param_groups[0]["lr"]
        order = torch.stack([torch.randperm(n, generator=g) for g in shuffle_rng]).to(device)  # (S, N)
        wrong = torch.zeros(n_seeds, dtype=torch.int64, device=device)
        loss_sum = torch.zeros(n_seeds, device=device)
        model.train()
        for idx in order.split(batch_size, dim=1):  # (S, B); the last may be smaller
            # one gather on the flat indices: on a CPU much faster than advanced indexing x[idx]
            xb = x.index_select(0, idx.reshape(-1)).view(*idx.shape, *x.shape[1:])  # (S, B, ...)
            yb = y.index_select(0, idx.reshape(-1)).view(idx.shape)  # (S, B)
            if not stacked:
                xb, yb = xb[0], yb[0]  # (B, ...), (B,)
            logits, loss = step(model, optimizer, xb, yb, noise_rng)
            wrong += (logits.argmax(-1) != yb).sum(-1).reshape(n_seeds)
            loss_sum += loss.reshape(n_seeds) * idx.shape[1]
        _check_finite(model, loss_sum, seeds, epoch, lr)

        errors = {split: error_rate(model, *data, eval_chunk) for split, data in (("train", train), ("test", test))}
        errors = {k: v if stacked else [v] for k, v in errors.items()}
        online = (wrong.double() / n).tolist()
        curves += [
            {
                "epoch": epoch,
                "seed": seed,
                "train_error": errors["train"][s],
                "test_error": errors["test"][s],
                "train_loss": loss_sum[s].item() / n,
                "online_train_error": online[s],
                "lr": lr,
            }
            for s, seed in enumerate(seeds)
        ]
        if schedule is None:
            done = epoch >= epochs
        else:  # the schedule reads one seed's online error: one net per schedule (CIFAR-10)
            schedule.step(online[0])
            done = schedule.stop_reason is not None
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr
        state = {
            "epoch": epoch,
            "model": _cpu_copy(model.state_dict()),
            "optimizer": _cpu_copy(optimizer.state_dict()),
            "schedule": schedule.state_dict() if schedule is not None else None,
            "shuffle_rng": [g.get_state() for g in shuffle_rng],
            "dropout_rng": [g.get_state() for g in dropout_rng],
            "noise_rng": [g.get_state() for g in noise_rng],
            "curves": list(curves),
        }
        if on_epoch is not None:
            on_epoch(state, time.perf_counter() - start)
    return state
