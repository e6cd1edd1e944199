"""Adversarial fine-tuning of a classifier, with the attack passed in as a function.

Goodfellow et al. (2015, sec. 6) train on a mix of clean and adversarial examples,

    J̃(θ, x, y) = α · J(θ, x, y) + (1 − α) · J(θ, x + ε · sign(∇ₓ J(θ, x, y)), y),   α = 0.5,

making the adversarial examples afresh from the current weights for every batch. This
module holds only the loop: the attack (e.g. a notebook's ``fgsm``) is an argument
``attack(model, images, labels, eps) -> images``, so no exercise answer lives here.

Images are float ``[N, 3, H, W]`` in [0, 1]; labels int64 ``[N]``. Everything runs on
the device of the model's parameters.
"""
from __future__ import annotations

import contextlib
import copy
import time
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from helpers.devices import cpu_threads
from helpers.optim import LoopTracker, StepState, TrainingResult

__all__ = ["Attack", "adversarial_finetune", "accuracy_under_attack"]

#: ``attack(model, images [B,3,H,W] in [0,1], labels [B], eps) -> adversarial images [B,3,H,W]``.
Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]

#: Weight of the clean loss in the mixed objective (Goodfellow et al. 2015, sec. 6: α = 0.5).
CLEAN_WEIGHT = 0.5


@contextlib.contextmanager
def _deterministic(threads: int | None):
    """Deterministic kernels and a fixed CPU thread count for the duration; restores both.

    Float sums depend on the thread count, so fixing it makes results machine-independent.
    """
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        with cpu_threads(threads):
            torch.use_deterministic_algorithms(True, warn_only=True)
            yield
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def _check_data(images: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a tensor [N, 3, H, W], got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
        raise ValueError(f"labels must be a tensor [N] with N = {images.shape[0]} (one per image), got "
                         f"{tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__}")
    if labels.dtype != torch.long:
        raise ValueError(f"labels must be int64 class indices, got dtype {labels.dtype}")


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps is in pixel units ([0, 1] images) and must lie in [0, 1], got {eps}; "
                         "for 8 grey levels write 8 / 255")
    return eps


def _run_attack(attack: Attack, model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                eps: float) -> torch.Tensor:
    """Call ``attack`` and check what it returns: same shape, finite, detached."""
    adv = attack(model, images, labels, eps)
    if not isinstance(adv, torch.Tensor) or adv.shape != images.shape:
        got = tuple(adv.shape) if isinstance(adv, torch.Tensor) else type(adv).__name__
        raise ValueError(f"the attack must return adversarial images of shape {tuple(images.shape)}, got {got}")
    if not torch.isfinite(adv).all():
        raise FloatingPointError("the attack returned NaN or infinite pixels")
    return adv.detach().to(images.dtype)


def _check_settings(eps: float, clean_weight: float, epochs: int, batch_size: int) -> float:
    eps = _check_eps(eps)
    if not 0.0 <= clean_weight <= 1.0:
        raise ValueError(f"clean_weight must lie in [0, 1], got {clean_weight}")
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got epochs={epochs}, batch_size={batch_size}")
    return eps


def _trainable_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode (batch-norm statistics frozen) with trainable, cleared parameters."""
    net = copy.deepcopy(model).eval()
    for p in net.parameters():
        p.requires_grad_(True)
        p.grad = None
    return net


def _mixed_step(net: nn.Module, opt: torch.optim.Optimizer, attack: Attack, x: torch.Tensor, y: torch.Tensor,
                eps: float, clean_weight: float) -> dict[str, float]:
    """One Adam step on the mixed objective; the batch's losses and accuracies (before the update)."""
    x_adv = _run_attack(attack, net, x, y, eps)
    opt.zero_grad(set_to_none=True)  # drop whatever the attack left on the weights
    clean_logits = net(x)
    adv_logits = net(x_adv)
    clean_loss = F.cross_entropy(clean_logits, y)
    adv_loss = F.cross_entropy(adv_logits, y)
    loss = clean_weight * clean_loss + (1 - clean_weight) * adv_loss
    loss.backward()
    opt.step()
    return {"loss": loss.item(), "clean_loss": clean_loss.item(), "adv_loss": adv_loss.item(),
            "clean_acc": (clean_logits.argmax(1) == y).float().mean().item(),
            "adv_acc": (adv_logits.argmax(1) == y).float().mean().item()}


def adversarial_finetune(model: nn.Module, attack: Attack, images: torch.Tensor, labels: torch.Tensor,
                         eps: float, *, epochs: int = 1, batch_size: int = 64, lr: float = 1e-3,
                         clean_weight: float = CLEAN_WEIGHT, seed: int = 0, threads: int | None = 1,
                         callbacks: Sequence[Callable[[StepState], bool | None]] = (),
                         progress: bool = False) -> TrainingResult:
    """Fine-tune a copy of ``model`` on clean + adversarial examples; ``model`` itself is not touched.

    Every step takes a batch ``(x, y)``, makes ``x_adv = attack(copy, x, y, eps)`` with the
    copy's current weights and minimises
    ``clean_weight · CE(copy(x), y) + (1 − clean_weight) · CE(copy(x_adv), y)`` with Adam.
    The attack runs for every batch even when ``clean_weight = 1`` (plain fine-tuning), so
    the history always shows how the current weights fare against it. The copy stays in
    eval mode (batch-norm statistics frozen, so the adversarial batches do not shift
    them); only its weights move. Parameter gradients the attack may leave
    behind (e.g. from ``loss.backward()``) are cleared before each update.

    Args:
        model: classifier taking ``[B,3,H,W]`` in [0,1], returning logits ``[B, K]``.
        attack: ``attack(model, images, labels, eps) -> images``, e.g. FGSM.
        images: training images ``[N, 3, H, W]`` in [0, 1] (moved to the model's device batch by batch).
        labels: int64 ``[N]``.
        eps: attack strength in pixel units (8 grey levels = 8/255).
        epochs: passes over the training images.
        batch_size: images per step; the last batch of an epoch may be smaller.
        lr: Adam learning rate.
        clean_weight: α of Goodfellow et al. (2015); 1 trains on clean images only.
        seed: seeds the batch order.
        threads: CPU threads during training (``None`` leaves torch's setting); fixed for
            bit-identical results on any machine.
        callbacks: ``callback(state: StepState)`` after every step (``state.losses``: the
            step's values); returning True stops after that step.
        progress: show a ``tqdm.auto`` progress bar.

    Returns:
        :class:`~helpers.optim.TrainingResult`: ``net``, a deep copy of ``model`` in eval
        mode, and per step ``history["loss"]`` (the mixed objective), ``"clean_loss"``,
        ``"adv_loss"``, ``"clean_acc"`` and ``"adv_acc"`` (accuracy on that batch before the
        update); ``best_value`` is the lowest batch loss. Ctrl-C or a callback's stop ends
        training early and returns what has been trained so far (``interrupted``,
        ``stopped_reason``). It still unpacks as ``fine_tuned, history``.

    Same inputs, same torch build and thread count → bit-identical weights and history
    (as long as ``attack`` is deterministic). The global RNG state is not used.
    """
    _check_data(images, labels)
    eps = _check_settings(eps, clean_weight, epochs, batch_size)
    t0 = time.perf_counter()
    net = _trainable_copy(model)
    params = list(net.parameters())
    device = params[0].device if params else torch.device("cpu")
    n = images.shape[0]
    g = torch.Generator().manual_seed(int(seed))
    run = LoopTracker(epochs * -(-n // batch_size), total_key="loss", progress=progress, callbacks=callbacks,
                      desc=f"adversarial fine-tuning (eps={eps * 255:.3g}/255)")
    run.history = {k: [] for k in ("loss", "clean_loss", "adv_loss", "clean_acc", "adv_acc")}
    run.begin_stage(None, run.total_steps)
    with _deterministic(threads):
        opt = torch.optim.Adam(params, lr=lr)
        try:
            with run.guarded():
                for _ in range(epochs):
                    order = torch.randperm(n, generator=g)
                    for start in range(0, n, batch_size):
                        began, idx = time.perf_counter(), order[start:start + batch_size]
                        values = _mixed_step(net, opt, attack, images[idx].to(device), labels[idx].to(device),
                                             eps, clean_weight)
                        run.offer_best(values, None)
                        run.after_step(values, None, time.perf_counter() - began)
        finally:
            opt.zero_grad(set_to_none=True)
    return run.finish(TrainingResult, net=net.eval(), seconds=time.perf_counter() - t0)


def accuracy_under_attack(model: nn.Module, attack: Attack, images: torch.Tensor, labels: torch.Tensor,
                          eps_values: Sequence[float], *, batch_size: int = 250,
                          threads: int | None = 1) -> list[float]:
    """Top-1 accuracy on ``attack(model, images, labels, eps)`` for each ``eps`` (pixel units).

    ``eps = 0`` is evaluated on the clean images without calling the attack. Returns one
    accuracy in [0, 1] per entry of ``eps_values``. The model is evaluated in eval mode and
    left in the mode it was in; parameter gradients an attack leaves behind are cleared.
    ``threads``: CPU threads meanwhile (one suits the small toy classifier); ``None`` leaves
    torch's setting.
    """
    _check_data(images, labels)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    try:
        with cpu_threads(threads):
            for eps in eps_values:
                eps = _check_eps(eps)
                correct = 0
                for start in range(0, images.shape[0], batch_size):
                    x = images[start:start + batch_size].to(device)
                    y = labels[start:start + batch_size].to(device)
                    if eps > 0:
                        x = _run_attack(attack, model, x, y, eps)
                    with torch.no_grad():
                        correct += int((model(x).argmax(1) == y).sum())
                results.append(correct / max(1, images.shape[0]))
    finally:
        model.train(was_training)
        for p in model.parameters():  # an attack that used .backward() must not leave gradients behind
            p.grad = None
    return results
