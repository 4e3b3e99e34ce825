"""Tests for fashion_models.train.precision: `auto` picks bfloat16 only where the hardware
computes it natively, and a resolved precision is what the model is built in."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashion_models.train.model import build
from fashion_models.train.precision import choose, cpu_flags, resolve, resolved_params

ZEN1_FLAGS = {"sse4_2", "avx", "avx2", "fma"}  # the AMD EPYC where emulated bf16 is 6.7x slower
SAPPHIRE_RAPIDS_FLAGS = ZEN1_FLAGS | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
ZEN4_FLAGS = ZEN1_FLAGS | {"avx512f", "avx512_bf16"}


@pytest.mark.parametrize(
    ("flags", "capability", "expected"),
    [
        (ZEN1_FLAGS, None, "float32"),
        (ZEN1_FLAGS | {"avx512f"}, None, "float32"),  # AVX-512 without its bf16 extension
        (ZEN4_FLAGS, None, "bfloat16"),
        (SAPPHIRE_RAPIDS_FLAGS, None, "bfloat16"),
        (set(), None, "float32"),  # no /proc/cpuinfo: not Linux
        # A GPU decides, whatever the host CPU: Ampere (8.0) and later compute bf16.
        (SAPPHIRE_RAPIDS_FLAGS, (7, 5), "float32"),
        (ZEN1_FLAGS, (8, 0), "bfloat16"),
        (ZEN1_FLAGS, (9, 0), "bfloat16"),
    ],
)
def test_choose(flags: set[str], capability: tuple[int, int] | None, expected: str) -> None:
    assert choose(flags, capability) == expected


def test_cpu_flags_are_read_from_the_first_cpu(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 7571\nflags\t\t: fpu sse avx2 fma\n\n"
        "processor\t: 1\nflags\t\t: fpu sse avx2 fma avx512_bf16\n"
    )
    assert cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "fma"}
    (tmp_path / "no_flags").write_text("processor\t: 0\n")
    assert cpu_flags(tmp_path / "no_flags") == frozenset()
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_auto_resolves_to_what_this_machine_computes_natively() -> None:
    # The test machines have no GPU: their CPU flags decide.
    expected = choose(cpu_flags(), None)
    assert resolve("auto") == expected
    assert resolve("float32") == "float32" and resolve("bfloat16") == "bfloat16"
    params = {"precision": "auto", "filters": 8}
    assert resolved_params(params) == {"precision": expected, "filters": 8}
    assert params["precision"] == "auto"  # the caller's params are left as they were
    assert resolved_params({"filters": 8}) == {"filters": 8}  # no precision: the default


def test_a_model_built_with_auto_computes_in_the_resolved_precision() -> None:
    model = build("cnn", {"conv_layers": 1, "filters": 4, "precision": "auto"})
    assert model.get_layer("conv_0").compute_dtype == resolve("auto")
    assert model.layers[-1].compute_dtype == "float32"  # the answer stays float32
