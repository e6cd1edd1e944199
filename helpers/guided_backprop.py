"""Guided backpropagation: ReLUs whose backward pass follows a rule you give them.

Springenberg et al. 2015 ("Striving for Simplicity: The All Convolutional Net", Sec. 3.4
and Fig. 1) change the backward pass of every ReLU. With ``y = max(x, 0)`` and ``R`` the
gradient arriving from above, the rules of the paper's Fig. 1 are

* plain backprop:   ``∂/∂x = R · [x > 0]``
* "deconvnet":      ``∂/∂x = R · [R > 0]``            (Zeiler & Fergus 2014)
* guided backprop:  ``∂/∂x = R · [x > 0] · [R > 0]``

This module holds the plumbing, not the rule: :class:`GuidedReLUFunction` is a
``torch.autograd.Function`` whose forward is the ordinary ReLU and whose backward calls
``backward_rule(inputs, grad_output) -> grad_input``, a function of two tensors of the
same shape (in notebook 02 the student's ``guided_relu_backward``). The forward pass is
unchanged, so the network still predicts the same classes; only gradients differ. Any
gradient-based tool (a saliency map, for instance) run inside :func:`guided_relu` uses
the rule at every ReLU module.

This works by swapping ``nn.ReLU`` *modules*. A network that calls ``F.relu`` /
``torch.relu`` inside its ``forward`` (torchvision's GoogLeNet and Inception do, in
``BasicConv2d``) keeps those ReLUs plain, and its "guided" gradients would silently be
ordinary ones. :func:`guided_relu` therefore warns with :class:`FunctionalReLUWarning`
when the network has no ``nn.ReLU`` module or when the source of one of its modules
calls a functional ReLU, and :func:`count_functional_relus` finds such calls for certain
by running the network once.

Usage::

    with guided_relu(model, guided_relu_backward):
        saliency = saliency_map(model, images, labels)   # guided saliency

    guided = guided_copy(model, guided_relu_backward)   # or: a separate copy that stays guided
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import re
import warnings
from typing import Callable, Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = [
    "BackwardRule",
    "FunctionalReLUWarning",
    "GuidedReLUFunction",
    "GuidedReLU",
    "guided_relu",
    "guided_copy",
    "relu_modules",
    "functional_relu_sources",
    "count_functional_relus",
]


class FunctionalReLUWarning(UserWarning):
    """Guided backprop cannot reach ReLUs that a network calls as functions."""


#: ``backward_rule(inputs, grad_output) -> grad_input``: the gradient a ReLU passes back,
#: given its forward input and the gradient arriving from above (three tensors of one shape).
BackwardRule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _plain_relu_backward(inputs: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """The ordinary ReLU backward ``R · [x > 0]`` (used where only the forward pass matters)."""
    return grad_output * (inputs > 0).to(grad_output.dtype)


class GuidedReLUFunction(torch.autograd.Function):
    """``y = max(x, 0)``; the backward pass returns ``backward_rule(x, grad_output)``.

    Call as ``GuidedReLUFunction.apply(x, backward_rule)``. The rule gets the saved
    forward input and the incoming gradient (same shape as ``x``) and must return a
    tensor of that shape; the ``backward_rule`` argument itself gets no gradient.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, backward_rule: BackwardRule) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.backward_rule = backward_rule
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        grad_input = ctx.backward_rule(x, grad_output)
        if not isinstance(grad_input, torch.Tensor) or grad_input.shape != x.shape:
            got = tuple(grad_input.shape) if isinstance(grad_input, torch.Tensor) else type(grad_input).__name__
            raise ValueError(f"the ReLU backward rule must return a tensor of the input's shape "
                             f"{tuple(x.shape)}, got {got}")
        return grad_input.to(grad_output.dtype), None


class GuidedReLU(nn.Module):
    """Drop-in replacement for ``nn.ReLU`` (never in place) whose backward pass is ``backward_rule``."""

    def __init__(self, backward_rule: BackwardRule):
        super().__init__()
        if not callable(backward_rule):
            raise TypeError(f"backward_rule must be a function (inputs, grad_output) -> grad_input, "
                            f"got {type(backward_rule).__name__}")
        self.backward_rule = backward_rule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return GuidedReLUFunction.apply(x, self.backward_rule)


def relu_modules(model: nn.Module) -> list[str]:
    """Qualified names of the ``nn.ReLU`` modules of ``model`` (the ones :func:`guided_relu` swaps)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.ReLU)]


# F.relu(…), functional.relu_(…), torch.relu(…), torch.nn.functional.relu(…), x.relu()
_FUNCTIONAL_RELU = re.compile(r"(\b(F|functional|torch)\.relu_?\s*\(|\.relu_?\(\s*\))")


def functional_relu_sources(model: nn.Module) -> list[str]:
    """Module classes in ``model`` whose ``forward`` source calls a functional ReLU.

    A static check (reads the source with :mod:`inspect`), so it needs no input and
    finds e.g. ``torchvision.models.googlenet.BasicConv2d``. Classes whose source is not
    available are skipped; ``nn.ReLU`` itself (which calls ``F.relu``) is not reported.
    Returns ``"module.path.ClassName"`` strings, each class once.
    """
    found: list[str] = []
    seen: set[type] = set()
    for m in model.modules():
        cls = type(m)
        if cls in seen or isinstance(m, (nn.ReLU, GuidedReLU)):
            continue
        seen.add(cls)
        try:
            source = inspect.getsource(cls.forward)
        except (OSError, TypeError):
            continue
        code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
        if _FUNCTIONAL_RELU.search(code):
            found.append(f"{cls.__module__}.{cls.__qualname__}")
    return found


_RELU_FUNCTIONS = {torch.relu, torch.relu_, torch.nn.functional.relu, torch.nn.functional.relu_,
                   torch.Tensor.relu, torch.Tensor.relu_}


class _ReLUCounter(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELU_FUNCTIONS:
            self.count += 1
        return func(*args, **(kwargs or {}))


@torch.no_grad()
def count_functional_relus(model: nn.Module, example: torch.Tensor) -> int:
    """Run ``model(example)`` once with every ``nn.ReLU`` made guided and count the ReLU
    *function* calls that remain: the ReLUs guided backprop does not reach (0 is good).

    ``example`` is any input the model accepts, e.g. ``torch.rand(1, 3, 64, 64)``.
    """
    with guided_relu(model, _plain_relu_backward, warn=False), _ReLUCounter() as counter:
        model(example)
    return counter.count


def _swap(model: nn.Module, backward_rule: BackwardRule) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace every ``nn.ReLU`` child by a :class:`GuidedReLU` with ``backward_rule``; return what to put back."""
    swapped = []
    for parent in model.modules():
        # _modules, not named_children(): the latter skips a ReLU instance used twice
        for name, child in list(parent._modules.items()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, GuidedReLU(backward_rule))
                swapped.append((parent, name, child))
    return swapped


def _warn_if_functional(model: nn.Module, n_swapped: int, stacklevel: int) -> None:
    sources = functional_relu_sources(model)
    name = getattr(model, "name", None) or type(model).__name__
    if n_swapped == 0:
        warnings.warn(
            f"{name} has no nn.ReLU modules, so guided backprop changes nothing here: the gradients "
            "are ordinary ones. " + (f"Its ReLUs are called as functions in {', '.join(sources)}. "
                                     if sources else "") +
            "Use a network built from nn.ReLU modules (VGG, AlexNet, SqueezeNet) or rewrite its forward.",
            FunctionalReLUWarning, stacklevel=stacklevel)
    elif sources:
        warnings.warn(
            f"{name} also calls ReLU as a function in {', '.join(sources)}; guided backprop cannot "
            f"swap those, so its gradients are only partly guided ({n_swapped} nn.ReLU modules swapped). "
            "count_functional_relus(model, example) counts the calls.",
            FunctionalReLUWarning, stacklevel=stacklevel)


@contextlib.contextmanager
def guided_relu(model: nn.Module, backward_rule: BackwardRule, *, warn: bool = True) -> Iterator[nn.Module]:
    """Give every ``nn.ReLU`` of ``model`` the backward pass ``backward_rule`` for the duration
    of a ``with`` block.

    ``backward_rule(inputs, grad_output) -> grad_input`` (tensors of one shape), e.g. notebook
    02's ``guided_relu_backward``. The modules are swapped in place and put back on exit,
    also after an exception; the
    forward pass and the weights are unchanged. Yields ``model``. With ``warn=True`` a
    :class:`FunctionalReLUWarning` says when ReLUs called as functions stay plain.
    Not thread-safe: do not run the same model elsewhere inside the block.
    """
    swapped = _swap(model, backward_rule)
    try:
        if warn:
            _warn_if_functional(model, len(swapped), stacklevel=4)
        yield model
    finally:
        for parent, name, original in swapped:
            setattr(parent, name, original)


def guided_copy(model: nn.Module, backward_rule: BackwardRule, *, warn: bool = True) -> nn.Module:
    """A deep copy of ``model`` whose ``nn.ReLU`` modules are permanently :class:`GuidedReLU`
    with ``backward_rule``.

    ``model`` itself is not changed. Warns like :func:`guided_relu`.
    """
    twin = copy.deepcopy(model)
    swapped = _swap(twin, backward_rule)
    if warn:
        _warn_if_functional(twin, len(swapped), stacklevel=3)
    return twin
