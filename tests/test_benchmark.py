"""The throughput benchmark runs end to end at a tiny size and reports in the agreed format.

No timing is asserted (timed unit tests are flaky on a shared machine): only that it runs,
prints its machine-readable last line, writes the markdown, and that its FLOP count and its
plain baseline are right. Shrunk: 2x16 nets, 2 seeds, a few steps.
"""

import re

import pytest
import torch

from advgrad import stacked
from benchmarks import throughput

TINY = ["--units", "16", "--seeds", "2", "--steps", "3", "--repeats", "2", "--warmup", "1",
        "--eval-samples", "50"]


def test_tiny_run_prints_the_last_line_and_writes_the_markdown(tmp_path, capsys):
    out = tmp_path / "benchmark.md"
    head = throughput.main(TINY + ["--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(r"speedup=(\d+\.\d\d) adversarial_ratio=(\d+\.\d\d)", lines[-1])
    assert match, lines[-1]
    assert float(match[1]) == pytest.approx(head["speedup"], abs=0.005)
    assert float(match[2]) == pytest.approx(head["ratio"], abs=0.005)
    text = out.read_text()
    assert text.startswith("# Training throughput")
    for needle in ("784-16-16-10 relu", "(a) plain loop | adversarial", "(b) advgrad, 2 seeds | standard",
                   "Speed-up of (b) over (a)", "Adversarial/standard cost ratio", "including evaluation",
                   "Peak memory", f"torch {torch.__version__}"):
        assert needle in text, needle
    assert "Cost of every MNIST training stage" not in text  # only with --matrix
    assert list(tmp_path.iterdir()) == [out]  # written atomically: no temporary left behind


def test_matrix_lists_every_training_stage_and_a_projection(tmp_path, capsys):
    out = tmp_path / "benchmark.md"
    throughput.main(TINY + ["--matrix", "--matrix-units", "8,16", "--matrix-activations", "tanh,relu",
                            "--matrix-steps", "2", "--matrix-repeats", "1", "--out", str(out)])
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| train")]
    # 2 widths x 2 activations x 2 methods, plus the three 2x400-style fit nets (here 2x8 relu).
    assert len(rows) == 2 * 2 * 2 + 3
    assert sum("| train-fit-" in r for r in rows) == 3 and "| train-fit-dropout | 2x8 relu | 50000 |" in text
    assert re.search(r"Projected wall time of the MNIST protocol on this machine, 150 epochs, 2 seeds, "
                     r"stages one after another: \d+\.\d h", text)
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("speedup=")


def test_flop_ratio_closed_form():
    # 2x800: sum of in*out = 784*800 + 800*800 + 800*10 = 1,275,200; layers above the first 648,000.
    # standard = 2 * 1,275,200 + 648,000 = 3,198,400; adversarial adds 2 * 1,275,200 = 5,748,800.
    ours, paper = throughput.flop_ratio((784, 800, 800, 10))
    assert ours == pytest.approx(5_748_800 / 3_198_400)
    assert paper == pytest.approx(5 / 3)
    # One layer: no hidden input gradient, so standard = 2 passes, adversarial = 4.
    assert throughput.flop_ratio((784, 10))[0] == pytest.approx(2.0)


def test_the_two_timed_loops_do_the_same_maths():
    """(a) and (b) must train the same nets: a few steps of each from the same start."""
    s = throughput.Setting(16, "relu", 0.08, seeds=1, batch_size=10)
    x, y, order = throughput._data(200, 1, "cpu")
    plain, ours = throughput.Plain(s, x, y, order[0]), throughput.Ours(s, x, y, order, workers=1)
    with torch.no_grad():  # the same initial weights
        for layer, (W, b) in zip([m for m in plain.model if isinstance(m, torch.nn.Linear)], ours.params,
                                 strict=True):
            layer.weight.copy_(W[0].T)
            layer.bias.copy_(b[0, 0])
    plain.run(5)
    ours.run(5)
    for a, b in zip(plain.model.parameters(), stacked.to_modules(ours.params, ours.cfg.mlp)[0].parameters(),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(plain.model[0].bias, torch.zeros(16))  # the steps moved the weights
