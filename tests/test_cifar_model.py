"""The CIFAR-10 networks: shapes and sizes against the paper's description, init, max-norm."""

import pytest
import torch
from torch import nn

from advgrad.cifar.model import NO_DROPOUT, CifarConvNet, CifarMLP, apply_max_norm_, build_model, init_weights_
from advgrad.core.dropout import SeededDropout, use_generators


def pooled(side: int) -> int:
    """Output side of a 3x3 max-pool with stride 2, no padding, floor mode."""
    return (side - 3) // 2 + 1


def test_pooling_sizes_are_32_15_7_3():
    assert [pooled(32), pooled(pooled(32)), pooled(pooled(pooled(32)))] == [15, 7, 3]
    model = CifarConvNet()
    shapes = {}
    for name in ("block1", "block2", "block3"):
        getattr(model, name).register_forward_hook(
            lambda module, args, out, name=name: shapes.__setitem__(name, tuple(out.shape))
        )
    out = model(torch.randn(2, 3, 32, 32))
    assert shapes == {"block1": (2, 96, 15, 15), "block2": (2, 128, 7, 7), "block3": (2, 256, 3, 3)}
    assert out.shape == (2, 10)


def test_conv_net_parameter_count():
    # Srivastava et al. (2014): 5x5 convolutions with 96, 128, 256 filters, FC 2048-2048-10.
    convs = [(3, 96), (96, 128), (128, 256)]
    side = pooled(pooled(pooled(32)))
    fcs = [(256 * side * side, 2048), (2048, 2048), (2048, 10)]
    expected = sum(cin * cout * 5 * 5 + cout for cin, cout in convs) + sum(i * o + o for i, o in fcs)
    assert expected == pytest.approx(10.07e6, abs=0.005e6)
    assert sum(p.numel() for p in CifarConvNet().parameters()) == expected


def test_mlp_shape_and_parameter_count():
    model = CifarMLP(units=3000)
    expected = (3072 * 3000 + 3000) + (3000 * 3000 + 3000) + (3000 * 10 + 10)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_dropout_changes_only_training_mode_and_not_parameter_names(arch):
    torch.manual_seed(0)
    x = torch.randn(3, 3, 32, 32)
    plain = build_model(arch, units=16)
    dropped = build_model(arch, units=16, dropout={**NO_DROPOUT, "input": 0.1, "conv": (0.25,) * 3, "fc": 0.5})
    use_generators(dropped, [torch.Generator().manual_seed(0)])
    assert plain.state_dict().keys() == dropped.state_dict().keys()
    dropped.load_state_dict(plain.state_dict())
    plain.train()
    dropped.train()
    assert not torch.equal(dropped(x), plain(x))  # dropout active
    plain.eval()
    dropped.eval()
    assert torch.equal(dropped(x), plain(x))  # identity at test time


def _recorded_dropout_inputs(model, x):
    """Shapes of the tensors the dropout layers receive in one training-mode forward pass, with the rate."""
    seen = []
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.register_forward_pre_hook(lambda m, args: seen.append((tuple(args[0].shape[1:]), m.p)))
    use_generators(model, [torch.Generator().manual_seed(0)])
    model.train()(x)
    return seen


@pytest.mark.parametrize("position, sides", [("before_pool", (32, 15, 7)), ("after_pool", (15, 7, 3))])
def test_conv_dropout_rates_are_per_block_and_placed_before_or_after_the_pooling(position, sides):
    model = build_model("conv", dropout={"input": 0.1, "conv": (0.25, 0.25, 0.5), "conv_position": position, "fc": 0.5})
    seen = _recorded_dropout_inputs(model, torch.randn(2, 3, 32, 32))
    channels = (96, 128, 256)
    assert seen == [((3, 32, 32), 0.1)] + [((c, s, s), p) for c, s, p in zip(channels, sides, (0.25, 0.25, 0.5))] + [
        ((2048,), 0.5),
        ((2048,), 0.5),
    ]


def test_unknown_architecture_is_rejected():
    with pytest.raises(ValueError, match="unknown CIFAR-10 architecture 'resnet'"):
        build_model("resnet")


def test_init_is_normal_with_zero_biases_and_reproducible():
    def init(seed):
        return init_weights_(CifarConvNet(), 0.01, torch.Generator().manual_seed(seed))

    a, b, c = init(0), init(0), init(1)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
        if name.endswith("bias"):
            assert not pa.any()
        else:
            assert not torch.equal(pa, pc)
    w = a.fc1.weight  # 4.7M draws: standard errors 4.6e-6 (mean) and 3.3e-4 relative (std)
    assert abs(w.mean().item()) < 2e-5 and w.std().item() == pytest.approx(0.01, rel=1.5e-3)


def test_max_norm_rescales_only_long_unit_vectors():
    torch.manual_seed(0)
    linear = nn.Linear(6, 4)
    conv = nn.Conv2d(2, 3, 5)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(4, 6))
        linear.weight[0] *= 10 / linear.weight[0].norm()  # norm 10: rescaled to 4
        linear.weight[1] *= 1 / linear.weight[1].norm()  # norm 1: left alone
        linear.weight[2] *= 3.9 / linear.weight[2].norm()  # just inside: left alone
        linear.weight[3].zero_()
        conv.weight.copy_(torch.randn(3, 2, 5, 5))  # filter norms ~ sqrt(50) ~ 7
        conv.weight[1] *= 0.5 / conv.weight[1].norm()
    model = nn.Sequential(linear, nn.ReLU(), conv)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_max_norm_(model, 4.0)

    for w_before, w_after in [(before["0.weight"], linear.weight), (before["2.weight"], conv.weight)]:
        for unit_before, unit_after in zip(w_before, w_after.detach()):
            norm = unit_before.norm()
            if norm > 4.0:  # oracle: w * c / ||w||
                torch.testing.assert_close(unit_after, unit_before * (4.0 / norm))
                assert unit_after.norm().item() == pytest.approx(4.0, rel=1e-5)
            else:
                assert torch.equal(unit_after, unit_before)
    assert torch.equal(linear.bias, before["0.bias"]) and torch.equal(conv.bias, before["2.bias"])
    assert (before["0.weight"].norm(dim=1) > 4).tolist() == [True, False, False, False]
