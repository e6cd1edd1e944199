"""The loop every iterative algorithm of the kit runs on, and the one result it returns.

Image loops, built on one coarse-to-fine stage loop:

* :func:`optimize_image` minimises ``objective(image)`` with a torch optimiser
  (L-BFGS, Adam, SGD or your own), optionally coarse to fine (``schedule``);
* :func:`gradient_ascent_loop` repeats an update written by the student,
  ``step_fn(image) -> image`` (e.g. ``class_visualization_step`` or ``dream_step``),
  optionally over a ``schedule`` too (DeepDream's octaves).

Training loops (:func:`helpers.fast_style.train_transformer`,
:func:`helpers.adversarial_training.adversarial_finetune`) use the same book-keeping,
:class:`LoopTracker`. Every loop therefore

* returns an :class:`OptimizationResult` (:class:`TrainingResult` when it trains a
  network): ``history`` (one list per recorded value), ``interrupted``, ``stopped_reason``,
  ``best_value``, ``stages``, ``steps_done``, ``times``;
* takes ``callbacks``: functions ``callback(state: StepState)`` called after every step;
  one that returns True stops the loop after that step and is named in ``stopped_reason``;
* turns Ctrl-C (``KeyboardInterrupt``, also raised from a callback) into a returned
  result with ``interrupted=True``.

Modules: :mod:`~helpers.optim.result` (the result, its stages, what callbacks get),
:mod:`~helpers.optim.tracker` (:class:`LoopTracker`: records, progress, callbacks,
stopping), :mod:`~helpers.optim.stages` (the stage loop and moving between sizes),
:mod:`~helpers.optim.image` (:func:`optimize_image`, :func:`coarse_to_fine`) and
:mod:`~helpers.optim.ascent` (:func:`gradient_ascent_loop`). Import from
``helpers.optim``.

Images are float ``[B, 3, H, W]`` in [0, 1]; the returned images are detached float32
tensors on the optimisation device.

Options every image loop takes
------------------------------
``callbacks`` (see above); ``progress``: a ``tqdm.auto`` bar counting steps;
``preview``: a :class:`~helpers.display.LivePreview` (or ``True`` for a new one), updated
every ``preview_every`` steps and at the end; ``keep_best``: track the best image (at
the final size); ``device``: where to run (default: the start image's device; the model
must already be there); ``on_nonfinite``: ``"stop"`` (warn and return the result so far
with ``stopped_reason`` set) or ``"raise"`` (:class:`NonFiniteLossError`); ``desc``: the
bar's label.

Random transforms
-----------------
``transforms`` are frozen once per step (:meth:`helpers.transforms.Transform.freeze`: a
``Jitter`` draws its shift) and the frozen ones are used for every evaluation within
that step; the global random state is also restored before each further evaluation of
a step, so transforms that draw inside their call repeat their draws too. L-BFGS, whose
line search evaluates several times per step, thus sees one fixed objective per step.

What one "step" is
------------------
Adam and SGD: one parameter update (one objective evaluation). L-BFGS with the default
projection (pixels clamped to [0, 1]): one iteration of :class:`~helpers.bounded_lbfgs.BoundedLBFGS`,
which keeps the pixels in range inside the method, usually one evaluation (the trial point
of its line search; more when the step is shortened). L-BFGS with another projection or none:
one call of ``torch.optim.LBFGS.step`` with ``max_iter=1``, i.e. the loss and gradient at
the current image plus the strong-Wolfe line search (usually one or two more evaluations, at
most 25); re-evaluating at the start of every step keeps it consistent with anything that
moves the image between steps. The bounded L-BFGS re-evaluates only when the image was moved
(a ``post_step`` regulariser) or the objective changed (random ``transforms``). The progress
bar, ``steps``, ``history`` and ``steps_done`` all count these steps;
``OptimizationResult.evaluations`` counts objective evaluations.

``history[name][i]`` is the value at the image the optimiser started step ``i + 1``
from (the loss an optimiser computes is always that of the current point);
:func:`gradient_ascent_loop` records the score of the image a step produced.
"""
from __future__ import annotations

from helpers.optim.ascent import gradient_ascent_loop
from helpers.optim.image import DEFAULT_LR, coarse_to_fine, optimize_image
from helpers.optim.result import NonFiniteLossError, OptimizationResult, Stage, StepState, TrainingResult
from helpers.optim.tracker import LoopTracker, loss_values

__all__ = [
    "NonFiniteLossError",
    "OptimizationResult",
    "TrainingResult",
    "Stage",
    "StepState",
    "LoopTracker",
    "optimize_image",
    "coarse_to_fine",
    "gradient_ascent_loop",
    "loss_values",
    "DEFAULT_LR",
]
