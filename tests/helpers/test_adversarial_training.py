"""helpers.adversarial_training: the fine-tuning loop and the robustness evaluation.

The attacks are written here, inline: the helper module holds no exercise answer and
takes the attack as an argument.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import toydata
from helpers.adversarial_training import accuracy_under_attack, adversarial_finetune
from helpers.optim import OptimizationResult, TrainingResult


def sign_attack(model, images, labels, eps):
    """One L∞ sign step up the cross-entropy, via autograd.grad (parameters untouched)."""
    x = images.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), labels), x)
    return (images + eps * grad.sign()).clamp(0, 1)


def leaky_sign_attack(model, images, labels, eps):
    """The same values as :func:`sign_attack`, but via ``loss.backward()``: it leaves gradients
    in the model's parameters, which the training loop must not pick up."""
    x = images.detach().clone().requires_grad_(True)
    F.cross_entropy(model(x), labels).backward()
    return (images + eps * x.grad.sign()).clamp(0, 1)


def identity_attack(model, images, labels, eps):
    return images.clone()


@pytest.fixture(scope="module")
def data():
    return toydata.make_dataset(192, 32, seed=11)


@pytest.fixture(scope="module")
def held_out():
    return toydata.make_dataset(200, 32, seed=12)


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_returns_a_trained_copy_and_leaves_the_model_alone(trained_toynet, data):
    before = _state(trained_toynet)
    result = adversarial_finetune(trained_toynet, sign_attack, *data, eps=8 / 255, epochs=1, batch_size=64)
    assert isinstance(result, OptimizationResult) and isinstance(result, TrainingResult)
    assert result.steps_done == 3 and not result.interrupted and result.stopped_reason == ""
    assert result.best_value == min(result.history["loss"]) and result.image is None
    tuned, history = result          # it still unpacks as (network, history)
    assert tuned is result.net and history is result.history
    after = _state(trained_toynet)
    assert all(torch.equal(before[k], after[k]) for k in before), "the passed-in model was changed"
    assert tuned is not trained_toynet and not tuned.training
    assert any(not torch.equal(before[k], v) for k, v in _state(tuned).items()), "the copy did not move"
    assert all(p.grad is None for p in tuned.parameters()), "gradients left on the returned model"
    assert all(p.grad is None for p in trained_toynet.parameters())
    # batch-norm statistics stay frozen (eval mode throughout)
    assert all(torch.equal(before[k], v) for k, v in _state(tuned).items() if "running" in k)


def test_history_has_one_finite_entry_per_step(trained_toynet, data):
    _, history = adversarial_finetune(trained_toynet, sign_attack, *data, eps=4 / 255, epochs=2, batch_size=50)
    steps = 2 * -(-192 // 50)  # the last batch of each epoch is smaller
    for key in ("loss", "clean_loss", "adv_loss", "clean_acc", "adv_acc"):
        assert len(history[key]) == steps, key
        assert all(v == v and abs(v) != float("inf") for v in history[key]), key
    for c, a, total in zip(history["clean_loss"], history["adv_loss"], history["loss"]):
        assert total == pytest.approx(0.5 * c + 0.5 * a, rel=1e-5)  # α = 0.5 (Goodfellow et al. 2015)
    assert all(0 <= v <= 1 for v in history["adv_acc"] + history["clean_acc"])
    assert "interrupted" not in history


def test_a_callback_stops_fine_tuning_and_ctrl_c_is_recorded_on_the_result(trained_toynet, data):
    seen = []

    def enough(state):
        seen.append((state.step, sorted(state.losses)))
        return state.step == 2

    result = adversarial_finetune(trained_toynet, sign_attack, *data, eps=8 / 255, epochs=2, batch_size=64,
                                  callbacks=[enough])
    assert [s for s, _ in seen] == [1, 2] and seen[0][1] == ["adv_acc", "adv_loss", "clean_acc", "clean_loss", "loss"]
    assert result.steps_done == 2 and all(len(v) == 2 for v in result.history.values())
    assert result.stopped_reason == "stopped by callback enough after 2 of 6 steps" and not result.interrupted
    assert not result.net.training and all(p.grad is None for p in result.net.parameters())

    def ctrl_c(state):
        if state.step == 1:
            raise KeyboardInterrupt

    result = adversarial_finetune(trained_toynet, sign_attack, *data, eps=8 / 255, epochs=1, callbacks=[ctrl_c])
    assert result.interrupted and result.steps_done == 1 and "interrupted" in result.stopped_reason
    assert "interrupted" not in result.history


def test_deterministic(trained_toynet, data):
    a, ha = adversarial_finetune(trained_toynet, sign_attack, *data, eps=8 / 255, epochs=1, seed=3)
    b, hb = adversarial_finetune(trained_toynet, sign_attack, *data, eps=8 / 255, epochs=1, seed=3)
    c, _ = adversarial_finetune(trained_toynet, sign_attack, *data, eps=8 / 255, epochs=1, seed=4)
    sa, sb, sc = _state(a), _state(b), _state(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and ha == hb
    assert any(not torch.equal(sa[k], sc[k]) for k in sa), "the seed must change the batch order"


def test_attack_that_leaves_parameter_gradients_changes_nothing(trained_toynet, data):
    clean, _ = adversarial_finetune(trained_toynet, sign_attack, *data, eps=8 / 255, epochs=1)
    leaky, _ = adversarial_finetune(trained_toynet, leaky_sign_attack, *data, eps=8 / 255, epochs=1)
    sc, sl = _state(clean), _state(leaky)
    assert all(torch.equal(sc[k], sl[k]) for k in sc)


def test_attack_sees_the_current_weights_in_eval_mode(trained_toynet, data):
    seen = []

    def spy(model, images, labels, eps):
        seen.append((model.training, eps, images.shape, model.net.classifier[2].bias.detach().clone()))
        return sign_attack(model, images, labels, eps)

    adversarial_finetune(trained_toynet, spy, *data, eps=0.02, epochs=1, batch_size=96)
    assert len(seen) == 2
    assert all(not training and eps == 0.02 and shape == (96, 3, 32, 32) for training, eps, shape, _ in seen)
    assert not torch.equal(seen[0][3], seen[1][3]), "the second batch's attack must use the updated weights"


def test_clean_weight_one_trains_on_clean_images_but_still_measures_the_attack(trained_toynet, data):
    plain, history = adversarial_finetune(trained_toynet, sign_attack, *data, eps=8 / 255, clean_weight=1.0, epochs=1)
    assert history["loss"] == pytest.approx(history["clean_loss"])
    # the attack is still run, so adversarial accuracy is recorded (and is lower than clean accuracy)
    assert sum(history["adv_acc"]) < sum(history["clean_acc"])
    same, _ = adversarial_finetune(trained_toynet, identity_attack, *data, eps=8 / 255, clean_weight=1.0, epochs=1)
    sp, ss = _state(plain), _state(same)
    assert all(torch.equal(sp[k], ss[k]) for k in sp), "with clean_weight = 1 the attack must not affect the weights"


def test_fine_tuning_on_the_attack_raises_accuracy_under_it(trained_toynet, held_out):
    # 2000 images, 1 epoch, lr 3e-3, ε = 8/255. Measured (torch CPU, 1 thread): FGSM accuracy on
    # 200 held-out images 0.31 → 0.47 (+0.16), clean accuracy 0.995 → 0.965. Thresholds: half the
    # gain, and 3.5 points of clean accuracy below the measured value.
    train = toydata.make_dataset(2000, 32, seed=13)
    eps = 8 / 255
    before = accuracy_under_attack(trained_toynet, sign_attack, *held_out, [0.0, eps])
    tuned, _ = adversarial_finetune(trained_toynet, sign_attack, *train, eps=eps, epochs=1, lr=3e-3)
    after = accuracy_under_attack(tuned, sign_attack, *held_out, [0.0, eps])
    assert after[1] >= before[1] + 0.08, (before, after)
    assert after[0] >= 0.93, (before, after)


def test_accuracy_under_attack(trained_toynet, held_out):
    images, labels = held_out
    calls = []

    def counting(model, x, y, eps):
        calls.append(eps)
        return identity_attack(model, x, y, eps)

    accs = accuracy_under_attack(trained_toynet, counting, images, labels, [0.0, 0.01], batch_size=64)
    assert calls == [0.01] * 4, "eps = 0 must not call the attack; one call per batch otherwise"
    assert accs[0] == accs[1] == pytest.approx(
        (trained_toynet(images).argmax(1) == labels).float().mean().item())
    trained_toynet.train()
    try:
        accuracy_under_attack(trained_toynet, leaky_sign_attack, images[:20], labels[:20], [0.03])
        assert trained_toynet.training, "the model's mode must be restored"
    finally:
        trained_toynet.eval()
    assert all(p.grad is None for p in trained_toynet.parameters())


@pytest.mark.parametrize("kwargs, message", [
    (dict(eps=-0.1), "eps"),
    (dict(eps=8), "8 / 255"),
    (dict(eps=0.1, clean_weight=1.5), "clean_weight"),
    (dict(eps=0.1, batch_size=0), "batch_size"),
])
def test_bad_arguments(trained_toynet, data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        adversarial_finetune(trained_toynet, sign_attack, *data, **kwargs)


def test_bad_data_and_bad_attack(trained_toynet, data):
    images, labels = data
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        adversarial_finetune(trained_toynet, sign_attack, images[:, 0], labels, eps=0.1)
    with pytest.raises(ValueError, match="one per image"):
        adversarial_finetune(trained_toynet, sign_attack, images, labels[:-1], eps=0.1)
    with pytest.raises(ValueError, match="int64"):
        adversarial_finetune(trained_toynet, sign_attack, images, labels.float(), eps=0.1)
    with pytest.raises(ValueError, match="shape"):
        adversarial_finetune(trained_toynet, lambda m, x, y, e: x[:, :, :8], images, labels, eps=0.1)
    with pytest.raises(FloatingPointError):
        adversarial_finetune(trained_toynet, lambda m, x, y, e: x * float("nan"), images, labels, eps=0.1)


def test_cpu_threads_sets_and_restores():
    from helpers.devices import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="at least 1"):
        with cpu_threads(0):
            pass
    assert torch.get_num_threads() == before
