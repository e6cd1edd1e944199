"""DeepDream machinery: octaves, detail carried between them, interruption, guide matching."""
import pytest
import torch

from helpers.deepdream import dream, match_guide, octave_sizes
from helpers.optim import OptimizationResult


def test_octave_sizes_grow_by_the_scale_up_to_full_size():
    sizes = octave_sizes(224, 300, 4, 1.4)
    assert sizes[-1] == (224, 300) and len(sizes) == 4
    for (h0, w0), (h1, w1) in zip(sizes, sizes[1:]):
        assert h1 / h0 == pytest.approx(1.4, rel=0.03) and w1 / w0 == pytest.approx(1.4, rel=0.03)
    with pytest.raises(ValueError, match="octaves"):
        octave_sizes(10, 10, 0, 1.4)
    with pytest.raises(ValueError, match="octave_scale"):
        octave_sizes(10, 10, 2, 1.0)


def test_detail_is_carried_across_octaves():
    # A step that brightens by 0.01 everywhere: after 3 octaves of 2 steps the full-size
    # result is the original plus 6 × 0.01, which only happens if each octave's detail is
    # carried into the next (roll does not matter for a uniform change).
    original = torch.full((1, 3, 30, 40), 0.4)
    result = dream(original, lambda x: x + 0.01, octaves=3, octave_scale=1.5, steps_per_octave=2,
                   jitter=3, progress=False)
    assert result.image.shape == original.shape
    assert torch.allclose(result.image, original + 0.06, atol=1e-5)
    # one result whose stages are the octaves, each with the image it ended with
    assert isinstance(result, OptimizationResult)
    assert [s.size for s in result.stages] == octave_sizes(30, 40, 3, 1.5)
    assert [tuple(s.image.shape[-2:]) for s in result.stages] == octave_sizes(30, 40, 3, 1.5)
    assert [(s.first_step, s.steps) for s in result.stages] == [(0, 2), (2, 2), (4, 2)]
    assert result.steps_done == 6 and result.best_image is result.image


def test_scores_form_one_history_split_by_octave():
    original = torch.full((1, 3, 24, 24), 0.3)
    result = dream(original, lambda x: x + 0.01, octaves=2, octave_scale=2.0, steps_per_octave=3, jitter=2,
                   score_fn=lambda x: x.mean(), progress=False, generator=torch.Generator().manual_seed(0))
    assert isinstance(result.history, dict) and len(result.history["score"]) == 6
    per_octave = result.stage_history("score")
    assert [len(s) for s in per_octave] == [3, 3]
    assert all(s[-1] > s[0] for s in per_octave)
    assert result.history["score"] == per_octave[0] + per_octave[1]


def test_interrupt_returns_the_dream_so_far_at_full_size():
    calls = {"n": 0}

    def step(x):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return x + 0.01

    original = torch.full((1, 3, 20, 20), 0.5)
    result = dream(original, step, octaves=3, steps_per_octave=2, jitter=0, progress=False)
    assert result.interrupted and result.image.shape == original.shape
    assert torch.allclose(result.image, original + 0.03, atol=1e-5)  # 3 completed steps


def test_a_callback_stop_skips_the_remaining_octaves():
    seen = []

    def stop_after_three(state):
        seen.append(state.step)
        return len(seen) == 3  # the first step of the second octave

    original = torch.full((1, 3, 20, 20), 0.5)
    result = dream(original, lambda x: x + 0.01, octaves=3, steps_per_octave=2, jitter=0, progress=False,
                   callbacks=[stop_after_three])
    assert seen == [1, 2, 3]  # steps are counted over all octaves
    assert len(result.stages) == 2 and not result.interrupted and result.steps_done == 3
    assert result.stopped_reason.startswith("stopped by callback stop_after_three after 3 of 6 steps")
    assert "stage 2/3" in result.stopped_reason
    assert torch.allclose(result.image, original + 0.03, atol=1e-5)  # 3 completed steps, at full size


def test_match_guide_picks_the_largest_dot_product():
    guide = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)   # vectors (1,0) and (0,1)
    acts = torch.tensor([[3.0, 0.1], [0.2, 2.0], [-1.0, -0.5]]).T.reshape(1, 2, 1, 3)
    matched = match_guide(acts, guide)
    assert matched.shape == acts.shape
    assert matched[0, :, 0, 0].tolist() == [1.0, 0.0]
    assert matched[0, :, 0, 1].tolist() == [0.0, 1.0]
    assert matched[0, :, 0, 2].tolist() == [0.0, 1.0]   # -0.5 > -1.0
    with pytest.raises(ValueError, match="channels"):
        match_guide(acts, torch.zeros(1, 3, 1, 1))
