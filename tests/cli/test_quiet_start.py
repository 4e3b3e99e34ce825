"""fashion_models.cli.quiet_start: TensorFlow's start-up noise is dropped from fd 2, everything
else gets through.

Each test runs a fresh interpreter, since the filter replaces the process's fd 2 for good.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fashion_models.cli.quiet_start import is_noise

ROOT = Path(__file__).resolve().parents[2]
START = "from fashion_models.cli.quiet_start import quiet_tensorflow_start\n"
START += "quiet_tensorflow_start()\nquiet_tensorflow_start()  # idempotent\n"
NOISE_WORDS = ("CUDA", "cuInit", "absl")


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` after quiet_tensorflow_start() in a fresh interpreter, as on a CPU-only
    machine; stdout and stderr are captured by pipes, read to their end."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environ.update(PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="-1", **env)
    return subprocess.run(
        [sys.executable, "-c", START + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=120,
    )


def noise_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(w in line for w in NOISE_WORDS)]


@pytest.mark.slow
def test_tensorflow_start_prints_no_cuda_or_absl_line() -> None:
    result = run_python(
        """
        import tensorflow as tf
        print(tf.config.list_physical_devices())
        print(tf.config.list_physical_devices("GPU"))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert "CPU" in result.stdout
    assert noise_lines(result.stderr) == []
    assert "oneDNN" not in result.stderr and "cpu_feature_guard" not in result.stderr


@pytest.mark.slow
def test_tensorflow_error_still_reaches_stderr() -> None:
    result = run_python(
        """
        import tensorflow as tf
        tf.reshape(tf.zeros([3]), [2])
        """,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "InvalidArgumentError" in result.stderr
    assert "Input to reshape is a tensor with 3 values" in result.stderr
    assert noise_lines(result.stderr) == []


def test_stderr_written_right_before_exit_is_kept_and_in_order() -> None:
    result = run_python(
        """
        import os, sys
        print("out 1", flush=True)
        print("python stderr", file=sys.stderr)
        os.write(2, b"E0000 00:00:1.5   42 op_kernel.cc:7] a real C++ error\\n")
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called\\n")
        os.write(2, b"E0000 00:00:1.5   42 cuda_platform.cc:52] failed call to cuInit: 303\\n")
        print("no newline at the end", end="", file=sys.__stderr__)
        print("out 2")
        """,
    )
    assert result.returncode == 0
    assert result.stdout == "out 1\nout 2\n"
    assert result.stderr.splitlines() == [
        "python stderr",
        "E0000 00:00:1.5   42 op_kernel.cc:7] a real C++ error",
        "no newline at the end",
    ]


@pytest.mark.parametrize("end", ["os._exit(3)", "os.abort()"])
def test_output_before_a_hard_exit_is_not_lost(end: str) -> None:
    """No atexit hook runs here; the filter process still passes on what it was sent."""
    result = run_python(
        f"""
        import os, sys
        print("python stderr", file=sys.stderr)
        os.write(2, b"F0000 00:00:1.5   42 kernel.cc:9] Check failed: x == y\\n")
        {end}
        """,
    )
    assert result.returncode != 0
    assert "python stderr" in result.stderr
    assert "F0000 00:00:1.5   42 kernel.cc:9] Check failed: x == y" in result.stderr


def test_child_processes_go_through_the_same_filter() -> None:
    result = run_python(
        """
        import subprocess
        subprocess.run(["sh", "-c", "echo child says >&2; "
            "echo 'I0000 00:00:1.5  7 cudart_stub.cc:31] Could not find cuda drivers' >&2"])
        """,
    )
    assert result.returncode == 0
    assert result.stderr == "child says\n"


def test_cuinit_failure_is_noise_only_without_a_gpu() -> None:
    line = b"E0000 00:00:1795577844.858868    5398 cuda_platform.cc:52] failed call to cuInit: X"
    assert is_noise(line, gpu=False)
    assert not is_noise(line, gpu=True)
    info = b"I0000 00:00:1795577842.368559    5398 cudart_stub.cc:31] Could not find cuda drivers"
    assert is_noise(info, gpu=True)
    factory = b"E0000 00:00:1.0  1 cuda_fft.cc:467] Unable to register cuFFT factory: again"
    assert is_noise(factory, gpu=True)
    legacy = b"2024-05-01 10:00:00.000001: I tensorflow/core/util/port.cc:113] oneDNN custom ops"
    assert is_noise(legacy, gpu=True)
    for kept in (
        b"E0000 00:00:1.0  1 bfc_allocator.cc:485] Allocator (GPU_0_bfc) ran out of memory",
        b"W0000 00:00:1.0  1 op_kernel.cc:1857] OP_REQUIRES failed at reshape_op.cc:65",
        b"Traceback (most recent call last):",
        b"WARNING:absl:You are saving your model as an HDF5 file",
    ):
        assert not is_noise(kept, gpu=False)
