"""The fast paths of the trainer against plain references.

- the pieces of the step rewritten for speed (gather, one-hot, ReLU derivative, backward matmul)
  against the obvious PyTorch expression or autograd;
- `StackedSGD` with 1, 2 or 3 worker threads against a per-seed autograd + torch.optim.SGD loop;
- the static-buffer step that CUDA captures as a graph, run eagerly on CPU, against the
  eager loop (the capture itself needs a GPU and is not run here);
- thread-count hygiene and clear errors.
Sizes are tiny (20 inputs, 16 hidden units, a few dozen samples) to keep the file fast.
"""

import pytest
import torch
import torch.nn.functional as F

from advgrad import mnist_trainer as trainer
from advgrad import stacked
from advgrad.mnist_model import MLPConfig

SIZES = (20, 16, 16, 10)
SEEDS = (0, 1, 2)
LR = {"logistic": 0.5, "tanh": 0.1, "relu": 0.2}


def _bce(logits, y):
    target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


def _data(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, SIZES[0], generator=g), torch.randint(0, 10, (n,), generator=g)


def _config(activation="relu", eps=0.08, epochs=2, seeds=SEEDS, dropout=(0.0, 0.0)):
    return trainer.MnistConfig(MLPConfig(SIZES, activation, *dropout), lr=LR[activation], eps=eps,
                               epochs=epochs, batch_size=10, init_std=0.1, seeds=seeds)


def _autograd_reference(cfg, seed, x, y):
    """One seed the obvious way: nn.Sequential, autograd FGSM, torch.optim.SGD, same shuffles."""
    model = stacked.to_modules(stacked.init_params(cfg.mlp, [seed], cfg.init_std, "cpu"), cfg.mlp)[0]
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    shuffle = torch.Generator().manual_seed(trainer.stream_seed(seed, "shuffle"))
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(x), generator=shuffle).split(cfg.batch_size):
            xb, yb = x[idx], y[idx]
            if cfg.eps > 0:
                v = xb.clone().requires_grad_()
                _bce(model(v), yb).backward()
                xb = xb + cfg.eps * v.grad.sign()
            opt.zero_grad()
            _bce(model(xb), yb).backward()
            opt.step()
    return [p.detach() for p in model.parameters()]


# --- the rewritten pieces of the step ------------------------------------------------------------

def test_gather_equals_advanced_indexing():
    x, y = _data(30)
    idx = torch.randperm(30).view(3, 10)[:, 2:7]  # (S, B), a non-contiguous slice as in the trainer
    xb, yb = stacked._gather(x, y, idx)
    assert torch.equal(xb, x[idx]) and torch.equal(yb, y[idx])
    assert xb.shape == (3, 5, SIZES[0]) and yb.shape == (3, 5)


def test_one_hot_equals_torch_one_hot():
    y = torch.tensor([[0, 9, 3], [3, 3, 1]])
    assert torch.equal(stacked._one_hot(y, 10, torch.float32), F.one_hot(y, 10).float())


def test_relu_derivative_is_zero_exactly_where_the_unit_is_off():
    pre = torch.tensor([[-1.0, 0.0, 0.5, 2.0, -0.0]])
    h = pre.relu()
    grad = torch.tensor([[3.0, 3.0, 3.0, 3.0, 3.0]])
    # autograd's ReLU backward passes the gradient where relu(pre) > 0 (at 0 the derivative is 0)
    pre_ref = pre.clone().requires_grad_()
    pre_ref.relu().backward(grad)
    assert torch.equal(stacked._activation_backward(grad.clone(), h, "relu"), pre_ref.grad)
    assert pre_ref.grad.tolist() == [[0.0, 0.0, 3.0, 3.0, 0.0]]


def test_backprop_to_input_equals_delta_times_weights_transposed():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(3, 20, 16, generator=g)       # (S, in, out)
    delta = torch.randn(3, 5, 16, generator=g)    # (S, B, out)
    out = stacked._backprop_to_input(delta, W)
    assert out.shape == (3, 5, 20)
    torch.testing.assert_close(out, torch.einsum("sbo,sio->sbi", delta, W), rtol=1e-5, atol=1e-6)


# --- worker threads ------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("activation, eps", [("relu", 0.08), ("tanh", 0.0), ("logistic", 0.08)])
def test_workers_train_every_seed_like_a_per_seed_autograd_loop(workers, activation, eps):
    # 45 samples with batch 10: the last mini-batch of every epoch has 5 samples.
    x, y = _data(45)
    cfg = _config(activation, eps)
    state = trainer.train(cfg, (x, y), _data(20, seed=1), "cpu", workers=workers)
    for s, seed in enumerate(cfg.seeds):
        ours = stacked.to_modules([(W[s:s + 1], b[s:s + 1]) for W, b in state["params"]], cfg.mlp)[0]
        for p, ref in zip(ours.parameters(), _autograd_reference(cfg, seed, x, y)):
            torch.testing.assert_close(p.detach(), ref, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(state["params"][0][0][0], state["params"][0][0][1])


def test_a_worker_count_gives_bit_identical_runs_and_restores_torch_threads():
    x, y = _data(40)
    before = torch.get_num_threads()
    cfg = _config(dropout=(0.2, 0.5))  # every random stream in play
    runs = [trainer.train(cfg, (x, y), (x, y), "cpu", workers=2) for _ in range(2)]
    assert torch.get_num_threads() == before
    assert runs[0]["curves"] == runs[1]["curves"]
    assert all(torch.equal(a, b) for (Wa, ba), (Wb, bb) in zip(runs[0]["params"], runs[1]["params"])
               for a, b in ((Wa, Wb), (ba, bb)))


def test_workers_are_single_threaded_by_default_and_threads_come_back_after_an_error():
    before = torch.get_num_threads()
    workers, threads = stacked.worker_layout(len(SEEDS), "cpu")
    assert workers == min(len(SEEDS), before) and threads == (1 if workers > 1 else before)
    assert stacked.worker_layout(5, "cuda") == (1, before)

    seen = []

    def fail(state, seconds):
        seen.append(torch.get_num_threads())
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        trainer.train(_config(), _data(20), _data(20), "cpu", on_epoch=fail, workers=2)
    assert seen == [1]                        # inside: single-threaded workers
    assert torch.get_num_threads() == before  # after: restored


@pytest.mark.parametrize("workers", [0, 4])
def test_a_bad_worker_count_fails_in_one_line(workers):
    with pytest.raises(ValueError, match=rf"workers = {workers}: need 1 to 3"):
        trainer.train(_config(), _data(20), _data(20), "cpu", workers=workers)


def test_stopping_the_workers_ends_an_epoch_at_the_next_step():
    cfg = _config()
    params = stacked.init_params(cfg.mlp, cfg.seeds, cfg.init_std, "cpu")
    x, y = _data(40)
    with stacked.StackedSGD(cfg, params, [None] * 3, (x, y), workers=2) as sgd:
        sgd._stop.set()  # what leaving the `with` block (Ctrl-C, an error) does
        with pytest.raises(stacked._Stopped):
            sgd.steps(torch.stack([torch.randperm(40) for _ in cfg.seeds]))


# --- the CUDA-graph step, run eagerly ------------------------------------------------------------

@pytest.mark.parametrize("n", [40, 45])  # 45: the last mini-batch (5) runs outside the graph
def test_static_buffer_step_equals_the_eager_loop(n):
    cfg = _config()
    x, y = _data(n)
    order = torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(s)) for s in cfg.seeds])
    results = {}
    for graph in (False, True):
        params = stacked.init_params(cfg.mlp, cfg.seeds, cfg.init_std, "cpu")
        initial = [(W.clone(), b.clone()) for W, b in params]
        with stacked.StackedSGD(cfg, params, [None] * 3, (x, y), workers=1, graph=graph) as sgd:
            # Entering ran a warm-up step (CUDA needs it before capture) and undid it.
            assert all(torch.equal(W, W0) and torch.equal(b, b0) for (W, b), (W0, b0) in zip(params, initial))
            assert (sgd._captured is not None) == graph
            losses = [sgd.steps(order), sgd.steps(order)]  # the static loss buffer is reset per call
        results[graph] = params, losses
    (p_eager, l_eager), (p_graph, l_graph) = results[False], results[True]
    assert all(torch.equal(Wa, Wb) and torch.equal(ba, bb) for (Wa, ba), (Wb, bb) in zip(p_eager, p_graph))
    for a, b in zip(l_eager, l_graph):  # summed in another order when a last partial batch exists
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
    assert not torch.allclose(l_graph[0], l_graph[1])  # the second pass saw updated weights


def test_graph_needs_one_worker_and_no_dropout():
    x, y = _data(20)
    for cfg, workers in ((_config(), 2), (_config(dropout=(0.2, 0.5)), 1)):
        params = stacked.init_params(cfg.mlp, cfg.seeds, cfg.init_std, "cpu")
        with pytest.raises(ValueError, match="graph=True needs one worker and no dropout"):
            stacked.StackedSGD(cfg, params, [None] * 3, (x, y), workers=workers, graph=True)


@pytest.mark.parametrize("failure", ["capture", "replay"])
def test_a_failing_cuda_graph_falls_back_to_the_eager_step_with_a_warning(failure, monkeypatch, caplog):
    """The CUDA path has never run on a GPU here: if capture or replay fails, training goes on
    with the eager step and says so in one line (forced on CPU by making them raise)."""
    cfg = _config()
    x, y = _data(40)
    order = torch.stack([torch.randperm(40, generator=torch.Generator().manual_seed(s)) for s in cfg.seeds])
    params_eager = stacked.init_params(cfg.mlp, cfg.seeds, cfg.init_std, "cpu")
    with stacked.StackedSGD(cfg, params_eager, [None] * 3, (x, y), workers=1) as sgd:
        loss_eager = sgd.steps(order)

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")

    if failure == "capture":
        monkeypatch.setattr(stacked._CapturedStep, "__init__", broken)
    else:
        real_call, calls = stacked._CapturedStep.__call__, []

        def fails_on_the_second_replay(self, idx):
            calls.append(1)
            if len(calls) == 2:
                broken()
            real_call(self, idx)
        monkeypatch.setattr(stacked._CapturedStep, "__call__", fails_on_the_second_replay)
    params = stacked.init_params(cfg.mlp, cfg.seeds, cfg.init_std, "cpu")
    with caplog.at_level("WARNING", logger="advgrad"):
        with stacked.StackedSGD(cfg, params, [None] * 3, (x, y), workers=1, graph=True) as sgd:
            loss = sgd.steps(order)
            assert sgd._captured is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"CUDA graph {failure} failed (CUDA error: operation not permitted when stream is "
                        "capturing); training with the eager step"]
    assert all(torch.equal(Wa, Wb) and torch.equal(ba, bb)
               for (Wa, ba), (Wb, bb) in zip(params_eager, params, strict=True))
    torch.testing.assert_close(loss, loss_eager, rtol=1e-6, atol=0)


def test_benchmark_refuses_cuda_without_a_gpu_and_checks_the_graph_step(capsys):
    from benchmarks import throughput

    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="^benchmarks.throughput: --device cuda but no CUDA device"):
            throughput.main(["--device", "cuda", "--check"])
    result = throughput.main(["--device", "cpu", "--check", "--units", "16", "--seeds", "2", "--check-steps", "30"])
    assert result["param_diff"] == 0.0 and result["captured"] is False  # on CPU the same eager kernels
    assert "largest parameter difference 0" in capsys.readouterr().out
