"""helpers.guided_backprop: the ReLU that runs a given backward rule, the module swap, and the
functional-ReLU warning.

The kit holds no backward rule of its own (the guided rule is notebook 02's exercise), so
these tests write the rules of Springenberg et al. 2015, Fig. 1, themselves."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from helpers.guided_backprop import (
    FunctionalReLUWarning,
    GuidedReLU,
    GuidedReLUFunction,
    count_functional_relus,
    functional_relu_sources,
    guided_copy,
    guided_relu,
    relu_modules,
)


def guided_rule(inputs, grad_output):
    """Guided backpropagation: R · [x > 0] · [R > 0] (Springenberg et al. 2015, Sec. 3.4)."""
    return grad_output * ((inputs > 0) & (grad_output > 0)).to(grad_output.dtype)


def plain_rule(inputs, grad_output):
    """The ordinary ReLU backward pass: R · [x > 0]."""
    return grad_output * (inputs > 0).to(grad_output.dtype)


class FunctionalNet(nn.Module):
    """ReLUs called as functions only (like GoogLeNet's BasicConv2d)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = torch.relu(x).mean(dim=(2, 3))
        return self.fc(x)


class MixedNet(nn.Module):
    """One nn.ReLU module and one functional ReLU."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.act(self.conv(x))
        return self.fc(F.relu(x - 0.1).mean(dim=(2, 3)))


def _plain_net(inplace=False):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=inplace),
                         nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(inplace=inplace)),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()


def test_guided_relu_function_forward_and_backward_by_hand():
    x = torch.tensor([-1.0, 2.0, 3.0, 0.0, 4.0], requires_grad=True)
    y = GuidedReLUFunction.apply(x, guided_rule)
    assert torch.equal(y.detach(), torch.tensor([0.0, 2.0, 3.0, 0.0, 4.0]))
    upstream = torch.tensor([5.0, -6.0, 7.0, 8.0, 0.5])
    (grad,) = torch.autograd.grad(y, x, upstream)
    # only where x > 0 AND the upstream gradient > 0
    assert torch.equal(grad, torch.tensor([0.0, 0.0, 7.0, 0.0, 0.5]))


def test_guided_relu_module_matches_relu_forward_and_float64():
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    assert torch.equal(GuidedReLU(guided_rule)(x), torch.relu(x))
    assert GuidedReLU(guided_rule)(x).dtype == torch.float64


def test_context_swaps_every_relu_and_restores_the_same_objects():
    net = _plain_net()
    originals = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert relu_modules(net) == ["1", "2.1"]
    with guided_relu(net, guided_rule) as same:
        assert same is net
        assert relu_modules(net) == []
        assert sum(isinstance(m, GuidedReLU) for m in net.modules()) == 2
    assert [m for m in net.modules() if isinstance(m, nn.ReLU)] == originals
    assert all(a is b for a, b in zip([m for m in net.modules() if isinstance(m, nn.ReLU)], originals))


def test_context_restores_after_an_exception():
    net = _plain_net()
    with pytest.raises(RuntimeError, match="boom"):
        with guided_relu(net, guided_rule):
            raise RuntimeError("boom")
    assert len(relu_modules(net)) == 2
    assert not any(isinstance(m, GuidedReLU) for m in net.modules())


@pytest.mark.parametrize("inplace", [False, True])
def test_forward_unchanged_gradients_changed(inplace):
    net = _plain_net(inplace)
    x = torch.rand(4, 3, 8, 8)
    with torch.no_grad():
        before = net(x)
    xg = x.clone().requires_grad_(True)
    (plain,) = torch.autograd.grad(net(xg)[:, 0].sum(), xg)
    with guided_relu(net, guided_rule):
        with torch.no_grad():
            assert torch.equal(net(x), before)
        xg = x.clone().requires_grad_(True)
        (guided,) = torch.autograd.grad(net(xg)[:, 0].sum(), xg)
    assert not torch.allclose(plain, guided)
    with torch.no_grad():
        assert torch.equal(net(x), before)


def test_shared_relu_instance_is_swapped_everywhere_and_restored():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Linear(3, 3), relu, nn.Linear(3, 3), relu)
    with guided_relu(net, guided_rule):
        assert relu_modules(net) == []
    assert net[1] is relu and net[3] is relu


def test_no_warning_for_module_relus():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with guided_relu(_plain_net(), guided_rule):
            pass
        guided_copy(_plain_net(), guided_rule)


def test_warns_when_relus_are_functional_only():
    net = FunctionalNet()
    assert relu_modules(net) == []
    assert functional_relu_sources(net) == [f"{__name__}.FunctionalNet"]
    with pytest.warns(FunctionalReLUWarning, match="no nn.ReLU modules"):
        with guided_relu(net, guided_rule):
            pass
    assert count_functional_relus(net, torch.rand(1, 3, 6, 6)) == 2


def test_warns_when_relus_are_partly_functional():
    net = MixedNet()
    with pytest.warns(FunctionalReLUWarning, match="partly guided"):
        with guided_relu(net, guided_rule):
            pass
    assert count_functional_relus(net, torch.rand(1, 3, 6, 6)) == 1
    assert len(relu_modules(net)) == 1  # restored after counting


def test_googlenet_is_recognised_as_functional():
    net = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False).eval()
    assert relu_modules(net) == []
    assert "torchvision.models.googlenet.BasicConv2d" in functional_relu_sources(net)
    assert count_functional_relus(net, torch.rand(1, 3, 64, 64)) == 57  # one per BasicConv2d
    with pytest.warns(FunctionalReLUWarning, match="BasicConv2d"):
        with guided_relu(net, guided_rule):
            pass


@pytest.mark.parametrize("builder", [torchvision.models.squeezenet1_1, torchvision.models.vgg11])
def test_torchvision_module_relu_networks_are_fully_guided(builder):
    net = builder(weights=None).eval()
    assert relu_modules(net)
    assert functional_relu_sources(net) == []
    assert count_functional_relus(net, torch.rand(1, 3, 64, 64)) == 0


def test_guided_copy_leaves_the_original_alone():
    net = _plain_net()
    twin = guided_copy(net, guided_rule)
    assert len(relu_modules(net)) == 2 and relu_modules(twin) == []
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(net(x), twin(x))


def test_comments_mentioning_relu_do_not_trigger_the_source_check():
    class Commented(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(x)  # F.relu(x) would not be guided

    assert functional_relu_sources(Commented()) == []


def test_the_backward_pass_is_the_rule_it_is_given():
    x = torch.tensor([-1.0, 2.0, 0.5], requires_grad=True)
    calls = []

    def constant_rule(inputs, grad_output):
        calls.append((inputs.detach().clone(), grad_output.clone()))
        return torch.full_like(grad_output, 7.0)

    (grad,) = torch.autograd.grad(GuidedReLUFunction.apply(x, constant_rule), x, torch.tensor([1.0, -2.0, 3.0]))
    assert torch.equal(grad, torch.full((3,), 7.0))
    assert len(calls) == 1
    assert torch.equal(calls[0][0], x.detach()) and torch.equal(calls[0][1], torch.tensor([1.0, -2.0, 3.0]))


def test_plain_rule_gives_ordinary_gradients_and_guided_rule_differs():
    net = _plain_net()
    x = torch.rand(3, 3, 8, 8)
    xg = x.clone().requires_grad_(True)
    (ordinary,) = torch.autograd.grad(net(xg)[:, 1].sum(), xg)
    with guided_relu(net, plain_rule):
        xg = x.clone().requires_grad_(True)
        (plain,) = torch.autograd.grad(net(xg)[:, 1].sum(), xg)
    assert torch.allclose(plain, ordinary, atol=1e-7)
    with guided_relu(net, guided_rule):
        xg = x.clone().requires_grad_(True)
        (guided,) = torch.autograd.grad(net(xg)[:, 1].sum(), xg)
    assert not torch.allclose(guided, ordinary)


def test_a_rule_must_be_given_and_return_the_right_shape():
    with pytest.raises(TypeError):
        with guided_relu(_plain_net()):  # the rule is missing on purpose
            pass
    with pytest.raises(TypeError, match="backward_rule"):
        GuidedReLU(None)
    x = torch.rand(4, requires_grad=True)
    y = GuidedReLUFunction.apply(x, lambda inputs, grad_output: grad_output[:2])
    with pytest.raises(ValueError, match="shape"):
        y.sum().backward()


def test_guided_copy_keeps_the_rule():
    twin = guided_copy(_plain_net(), guided_rule)
    assert all(m.backward_rule is guided_rule for m in twin.modules() if isinstance(m, GuidedReLU))
