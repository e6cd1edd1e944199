"""Checks for exercise cells: readable failures for students, a ✓ line when a check passes.

Used by the visible and hidden test cells of the notebooks. Each check raises
``AssertionError`` (what nbgrader counts as a failed test) with a message that says what
was compared, the tolerance, and the worst mismatch.
"""
from __future__ import annotations

import torch

_quiet = False


def passed(what: str) -> None:
    """Print the ✓ line for a check that passed (silent when ``quiet()`` was called)."""
    if not _quiet:
        print(f"✓ {what}")


def quiet(flag: bool = True) -> None:
    """Switch the ✓ lines off (``True``) or on."""
    global _quiet
    _quiet = flag


def check(condition, what: str, hint: str = "") -> None:
    """Assert ``condition``; on failure the message is ``what`` plus an optional hint."""
    if not bool(condition):
        raise AssertionError(f"✗ {what}" + (f"\n  hint: {hint}" if hint else ""))
    passed(what)


def check_tensor(value, what: str, *, shape=None, dtype=None, ndim=None) -> torch.Tensor:
    """Assert ``value`` is a tensor with the given shape / dtype / number of dimensions."""
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"✗ {what}: expected a torch.Tensor, got {type(value).__name__}")
    if ndim is not None and value.dim() != ndim:
        raise AssertionError(f"✗ {what}: expected {ndim} dimensions, got shape {tuple(value.shape)}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise AssertionError(f"✗ {what}: expected shape {tuple(shape)}, got {tuple(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise AssertionError(f"✗ {what}: expected dtype {dtype}, got {value.dtype}")
    return value


def check_close(actual, expected, what: str, *, rtol: float = 1e-5, atol: float = 1e-6, hint: str = "") -> None:
    """Assert ``|actual − expected| ≤ atol + rtol·|expected|`` elementwise, naming the worst element."""
    a = actual if isinstance(actual, torch.Tensor) else torch.as_tensor(actual)
    e = expected if isinstance(expected, torch.Tensor) else torch.as_tensor(expected)
    a = a.detach().to("cpu", torch.float64)
    e = e.detach().to("cpu", torch.float64)
    if a.shape != e.shape:
        raise AssertionError(f"✗ {what}: shape {tuple(a.shape)}, expected {tuple(e.shape)}")
    if not torch.isfinite(a).all():
        raise AssertionError(f"✗ {what}: result contains NaN or inf")
    err = (a - e).abs()
    bound = atol + rtol * e.abs()
    if (err > bound).any():
        worst = int((err - bound).flatten().argmax())
        raise AssertionError(
            f"✗ {what}: got {a.flatten()[worst].item():.6g}, expected {e.flatten()[worst].item():.6g} "
            f"(element {worst}; tolerance atol={atol:g}, rtol={rtol:g})" + (f"\n  hint: {hint}" if hint else ""))
    passed(what)


def check_unchanged(before: torch.Tensor, after: torch.Tensor, what: str = "input left unchanged") -> None:
    """Assert a function did not modify its input in place."""
    check(torch.equal(before, after), what, "work on a copy (x = x.clone()) or avoid in-place operations")
