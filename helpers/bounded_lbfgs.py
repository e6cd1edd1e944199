"""L-BFGS for box-constrained images: pixels stay in [lower, upper] at every iterate.

Style transfer, texture synthesis and feature inversion minimise an objective over images
whose pixels must lie in [0, 1]. Running ``torch.optim.LBFGS`` unconstrained lets pixels
drift outside the range (the image shown is then the clamped one, whose objective can be far
worse than the one optimised); clamping between its steps moves the image behind the
optimiser's back, so its curvature pairs no longer describe the steps taken and it can make
the objective rise. :class:`BoundedLBFGS` handles the bounds inside the method, the way
projected quasi-Newton methods do (Byrd, Lu, Nocedal & Zhu 1995, L-BFGS-B; Kim, Sra &
Dhillon 2010, "Tackling box-constrained optimization via a new projected quasi-Newton
approach"):

1. the *free* variables are those not held at a bound by the gradient (at the lower bound
   with ∂f/∂x > 0, or at the upper bound with ∂f/∂x < 0, a pixel is *active* and stays put);
2. the search direction is the L-BFGS two-loop recursion restricted to the free variables
   (pairs with no positive curvature on that subspace are skipped, so the direction is
   always one of descent);
3. the step is the projection of ``x + t·d`` onto the box, with ``t`` from a weak Wolfe
   search along that projected path starting at ``t = 1``: sufficient decrease (Armijo)
   and a curvature condition, which keeps every curvature pair usable (``s·y > 0``).

One :meth:`BoundedLBFGS.step` is ``max_iter`` iterations. The objective and gradient at the
accepted point are kept, so an iteration usually costs one evaluation; the point is
re-evaluated when the parameter was changed between steps (a regulariser applied after a
step, a new size) or after :meth:`BoundedLBFGS.forget_point` (an objective that changed, as
with a new random jitter).
"""
from __future__ import annotations

import math

import torch

Tensor = torch.Tensor

__all__ = ["BoundedLBFGS"]


class BoundedLBFGS(torch.optim.Optimizer):
    """Projected L-BFGS keeping one tensor parameter inside ``[lower, upper]``.

    Args:
        params: an iterable holding exactly one float tensor (the image ``[B, 3, H, W]``).
        lr: the first trial step of each line search (1 as in L-BFGS; an iteration without
            curvature information tries ``lr · min(1, 1/‖d‖₂)``, a step of Euclidean length at
            most one, as L-BFGS-B does).
        lower, upper: the bounds (pixel values; default [0, 1]).
        max_iter: iterations per :meth:`step`.
        history_size: curvature pairs kept (memory: ``2 · history_size`` copies of the image).
        c1, c2: the sufficient-decrease and curvature constants of the line search
            (``0 < c1 < c2 < 1``; 1e-4 and 0.9 as usual for quasi-Newton methods).
        max_backtracks: halvings of the step before the iteration gives up; the point is
            then kept, the history cleared, and the next iteration starts from steepest
            descent.

    ``closure()`` must zero the gradient, compute the loss, call ``backward()`` and return the
    loss, as for ``torch.optim.LBFGS``. ``step`` returns the loss at the point it ends on.
    The counters ``evaluations`` and ``iterations`` are public.
    """

    def __init__(self, params, lr: float = 1.0, *, lower: float = 0.0, upper: float = 1.0, max_iter: int = 1,
                 history_size: int = 100, c1: float = 1e-4, c2: float = 0.9, max_backtracks: int = 10):
        if not lower < upper:
            raise ValueError(f"BoundedLBFGS needs lower < upper, got lower={lower}, upper={upper}")
        if max_iter < 1 or history_size < 1 or max_backtracks < 1:
            raise ValueError("BoundedLBFGS: max_iter, history_size and max_backtracks must be ≥ 1, got "
                             f"{max_iter}, {history_size}, {max_backtracks}")
        if not 0 < c1 < c2 < 1:
            raise ValueError(f"BoundedLBFGS needs 0 < c1 < c2 < 1, got c1={c1}, c2={c2}")
        super().__init__(params, dict(lr=lr, lower=float(lower), upper=float(upper), max_iter=int(max_iter),
                                      history_size=int(history_size)))
        flat = [p for g in self.param_groups for p in g["params"]]
        if len(flat) != 1 or len(self.param_groups) != 1:
            raise ValueError("BoundedLBFGS optimises exactly one tensor (the image); got "
                             f"{len(flat)} tensors in {len(self.param_groups)} groups")
        self.c1, self.c2, self.max_backtracks = float(c1), float(c2), int(max_backtracks)
        self._s: list[Tensor] = []
        self._y: list[Tensor] = []
        self._x: Tensor | None = None   # the point f and g belong to (flattened)
        self._f: float | None = None
        self._g: Tensor | None = None
        self.evaluations = 0
        self.iterations = 0

    @property
    def _param(self) -> Tensor:
        return self.param_groups[0]["params"][0]

    def forget_point(self) -> None:
        """Drop the stored objective value and gradient: the next step evaluates first.
        Curvature pairs are kept."""
        self._x = self._f = self._g = None

    def has_point(self) -> bool:
        """True when the next step can start from the stored value (the parameter has not moved)."""
        return self._x is not None and torch.equal(self._param.detach().reshape(-1), self._x)

    def _evaluate(self, closure) -> tuple[float, Tensor]:
        with torch.enable_grad():
            loss = closure()
        self.evaluations += 1
        grad = self._param.grad
        if grad is None:
            raise RuntimeError("BoundedLBFGS: the closure left no gradient on the image; call loss.backward() in it")
        return float(loss), grad.detach().reshape(-1).clone()

    def _direction(self, g: Tensor, free: Tensor) -> Tensor:
        """−H·g on the free variables (two-loop recursion over pairs restricted to them)."""
        q = g * free
        masked = not bool(free.all())  # with no active pixel the pairs are used as they are
        pairs = []
        for s, y in zip(self._s, self._y):
            sf, yf = (s * free, y * free) if masked else (s, y)
            sy = float(torch.dot(sf, yf))
            if sy > 1e-10 * float(torch.dot(yf, yf)) and sy > 0:
                pairs.append((sf, yf, 1.0 / sy))
        alphas = []
        for sf, yf, rho in reversed(pairs):
            a = rho * float(torch.dot(sf, q))
            q.add_(yf, alpha=-a)
            alphas.append(a)
        if pairs:
            sf, yf, rho = pairs[-1]
            q.mul_(1.0 / (rho * float(torch.dot(yf, yf))))
        for (sf, yf, rho), a in zip(pairs, reversed(alphas)):
            b = rho * float(torch.dot(yf, q))
            q.add_(sf, alpha=a - b)
        return q.neg_().mul_(free)

    def _line_search(self, closure, x: Tensor, f: float, g: Tensor, d: Tensor, t: float, lo: float, hi: float):
        """Weak Wolfe search along the projected path ``P(x + t·d)``.

        Sufficient decrease (Armijo, ``c1``) and curvature (``g_new·s ≥ c2·g·s`` for the step
        ``s`` actually taken) are both asked for: the second keeps ``s·y > 0``, so every step
        adds a usable curvature pair; without it a first step that is too short (as on a
        loss that curves downwards there) teaches L-BFGS nothing and it crawls. Halving on
        failed decrease; on failed curvature, bisecting when a longer step already failed, else
        extrapolating 2–10× (the secant of the slope decides), at most
        ``max_backtracks`` + 10 evaluations. Returns ``(x, f, g, is_last_evaluated)`` or None
        when no point decreased the objective enough.
        """
        p = self._param
        low, high = 0.0, math.inf
        best = None
        previous = None
        halvings = 0
        for _ in range(self.max_backtracks + 10):
            x_new = (x + t * d).clamp_(lo, hi)
            p.copy_(x_new.view_as(p))
            f_new, g_new = self._evaluate(closure)
            step = x_new - x
            slope = float(torch.dot(g, step))
            if not (math.isfinite(f_new) and f_new <= f + self.c1 * slope):
                halvings += 1
                if best is None and halvings >= self.max_backtracks:
                    break
                high = t
                t = 0.5 * (low + high)
                continue
            best = (x_new, f_new, g_new)
            slope_new = float(torch.dot(g_new, step))
            if slope_new >= self.c2 * slope:
                return x_new, f_new, g_new, True
            if previous is not None and torch.equal(previous, x_new):
                return x_new, f_new, g_new, True  # every pixel the step moves is at a bound
            previous = x_new
            low = t
            if math.isinf(high):
                # Extrapolate: the secant of the slope along the step taken predicts where it
                # vanishes; go at least twice and at most ten times as far.
                guess = t * slope / (slope - slope_new) if slope_new > slope else math.inf
                t = min(max(guess, 2.0 * t), 10.0 * t)
            else:
                t = 0.5 * (low + high)
        if best is None:
            return None
        return best[0], best[1], best[2], torch.equal(best[0], p.detach().reshape(-1))

    @torch.no_grad()
    def step(self, closure) -> Tensor:  # type: ignore[override]
        if closure is None:
            raise RuntimeError("BoundedLBFGS.step needs a closure that re-evaluates the objective")
        group = self.param_groups[0]
        lo, hi, m = group["lower"], group["upper"], group["history_size"]
        p = self._param
        if not self.has_point():
            x = p.detach().reshape(-1).clamp(lo, hi)
            p.copy_(x.view_as(p))
            self._f, self._g = self._evaluate(closure)
            self._x = x
        x, f, g = self._x, self._f, self._g
        for _ in range(group["max_iter"]):
            if not math.isfinite(f):
                break
            active = ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))
            free = (~active).to(g.dtype)
            d = self._direction(g, free)
            slope = float(torch.dot(g, d))
            if not slope < 0:  # no descent on the free variables: restart from steepest descent
                self._s.clear(), self._y.clear()
                d = -(g * free)
                slope = float(torch.dot(g, d))
                if not slope < 0:
                    break  # a stationary point of the box-constrained problem
            t = group["lr"]
            if not self._s:
                # No curvature yet: a first step of length one in the image's norm, as L-BFGS-B does.
                t *= min(1.0, 1.0 / max(float(d.norm()), 1e-30))
            found = self._line_search(closure, x, f, g, d, t, lo, hi)
            if found is None:
                # No sufficient decrease: keep the point we had; the next iteration starts afresh
                # from steepest descent.
                p.copy_(x.view_as(p))
                self._s.clear(), self._y.clear()
                self._x, self._f, self._g = None, None, None
                break
            x_new, f_new, g_new, last = found
            s, y = x_new - x, g_new - g
            if float(torch.dot(s, y)) > 1e-10 * float(torch.dot(y, y)):
                if len(self._s) == m:
                    self._s.pop(0), self._y.pop(0)
                self._s.append(s)
                self._y.append(y)
            x, f, g = x_new, f_new, g_new
            self._x, self._f, self._g = x, f, g
            self.iterations += 1
            if not last:
                # The accepted point was not the last one evaluated: put it back; the caller's
                # record of the last evaluation is then not this point's, so evaluate afresh.
                p.copy_(x.view_as(p))
                self.forget_point()
                break
        return torch.tensor(self._f if self._f is not None else f)
