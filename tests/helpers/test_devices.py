import pytest
import torch

from helpers.devices import PROFILE_NAMES, get_profile, grading_mode, pick_device, seed_everything


def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("helpers.devices._mps_available", lambda: True)
    assert pick_device().type == "mps"
    monkeypatch.setattr("helpers.devices._mps_available", lambda: False)
    assert pick_device().type == "cpu"


def test_grading_mode_forces_cpu_and_smoke(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("KIT_PROFILE", "gpu")
    assert grading_mode()
    assert pick_device().type == "cpu"
    profile = get_profile("gpu")
    assert (profile.name, profile.device.type) == ("smoke", "cpu")


def test_env_selects_device_and_profile(monkeypatch):
    monkeypatch.setenv("KIT_DEVICE", "cpu")
    monkeypatch.setenv("KIT_PROFILE", "smoke")
    profile = get_profile()
    assert profile.name == "smoke" and profile.device == torch.device("cpu")
    assert get_profile("cpu").name == "cpu"  # an argument beats the environment


def test_asking_for_missing_cuda_names_the_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available.*device='cpu'"):
        pick_device("cuda")


def test_default_profile_follows_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_profile(device="cpu").name == "cpu"
    assert get_profile().name == "gpu"


def test_unknown_profile_lists_valid_names():
    with pytest.raises(ValueError) as err:
        get_profile("fast")
    for name in PROFILE_NAMES:
        assert name in str(err.value)


def test_profiles_grow_from_smoke_to_gpu():
    smoke, cpu, gpu = (get_profile(n, device="cpu") for n in ("smoke", "cpu", "gpu"))
    assert smoke.image_size < cpu.image_size < gpu.image_size
    assert smoke.iterations < cpu.iterations < gpu.iterations
    assert smoke.with_(image_size=32).image_size == 32 and smoke.image_size == 64
    assert smoke.scaled(0.01) == 1 and cpu.scaled(0.5) == cpu.iterations // 2


def test_autocast_context_changes_matmul_dtype():
    profile = get_profile("cpu", device="cpu").with_(precision="bfloat16")
    a = torch.randn(8, 8)
    with profile.autocast():
        assert (a @ a).dtype == torch.bfloat16
    with get_profile("cpu", device="cpu").with_(precision="float32").autocast():
        assert (a @ a).dtype == torch.float32


def test_cpu_profile_uses_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    import helpers.devices as devices

    monkeypatch.delenv("KIT_PRECISION", raising=False)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert get_profile("cpu", device="cpu").precision == "bfloat16"
    assert get_profile("smoke", device="cpu").precision == "float32"  # marks never depend on the CPU
    assert get_profile("gpu", device="cpu").precision == "float32"
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert get_profile("cpu", device="cpu").precision == "float32"
    monkeypatch.setenv("KIT_PRECISION", "bfloat16")
    assert get_profile("cpu", device="cpu").precision == "bfloat16"
    assert get_profile("smoke", device="cpu").precision == "float32"
    monkeypatch.setenv("KIT_PRECISION", "half")
    with pytest.raises(ValueError, match="KIT_PRECISION.*float32, bfloat16"):
        get_profile("cpu", device="cpu")


def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    import helpers.devices as devices

    real_open = builtins.open
    for flags, expected in (("fpu avx512f avx512_bf16 sse", True), ("fpu amx_bf16", True), ("fpu avx512f avx2", False)):
        info = tmp_path / f"cpuinfo-{expected}-{len(flags)}"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open",
                            lambda path, *a, _i=info, **k: real_open(_i if path == "/proc/cpuinfo" else path, *a, **k))
        assert devices.cpu_has_native_bf16() is expected


def test_seed_everything_reproduces_all_generators():
    import random

    import numpy as np

    gen = seed_everything(123)
    first = (random.random(), np.random.rand(), torch.rand(3), torch.rand(2, generator=gen))
    gen = seed_everything(123)
    second = (random.random(), np.random.rand(), torch.rand(3), torch.rand(2, generator=gen))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2]) and torch.equal(first[3], second[3])
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)
