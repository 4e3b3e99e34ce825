"""Keep TensorFlow's start-up noise (absl, oneDNN, CUDA probing) off the user's stderr.

TensorFlow 2.21 writes these lines from C++ to file descriptor 2 before its own log level
is read, so no environment variable hides them (TF_CPP_MIN_LOG_LEVEL=3 drops only the cuInit
line, and every other C++ error with it). `quiet_tensorflow_start` therefore points fd 2 at
a pipe read by a small filter process that drops the known noise and passes the rest on.
The filter is a process, not a thread, so that whatever was written before a crash, an
abort or `os._exit` still reaches the user. Run as a script, this file is that filter.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import subprocess
import sys

# absl (`I0000 00:00:1795.5  5398 port.cc:153] `) and older TF (`2024-… : I path/port.cc:1] `).
_LOG_LINE = re.compile(
    rb"(?:\d{4}-\d\d-\d\d [\d:.]+: )?(?P<level>[IWEF])(?:\d{4} [\d:.]+ +\d+)? +"
    rb"(?:\S*/)?(?P<file>[\w.]+):\d+\] (?P<text>.*)"
)
_INFO_NOISE = {b"port.cc", b"cudart_stub.cc", b"cpu_feature_guard.cc"}
_FACTORY = re.compile(rb"Unable to register cu(?:DNN|FFT|BLAS) factory")
_QUIET_S = 0.05  # a partial line (prompt, progress bar) goes out after this long without data
_started = False


def _gpu_expected() -> bool:
    """Whether this process may see a GPU: only then is a failed cuInit worth reporting."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/dxg")  # dxg: WSL


def is_noise(line: bytes, gpu: bool) -> bool:
    """Whether one stderr line (without its newline) is known start-up noise."""
    if line.startswith(b"WARNING: All log messages before absl::InitializeLog() is called"):
        return True
    if line.startswith(b"To enable the following instructions:") and b"rebuild" in line:
        return True  # second line of cpu_feature_guard's message
    match = _LOG_LINE.match(line)
    if match is None:
        return False
    name, text = match["file"], match["text"]
    if match["level"] == b"I" and name in _INFO_NOISE:
        return True
    if _FACTORY.search(text):
        return True  # TF registers its CUDA plugins twice, GPU or not
    # Without a GPU, nothing a cuda_*.cc file says is about the user's work.
    return not gpu and (b"cuInit" in text or name.startswith(b"cuda"))


def _write(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass  # reader gone: keep draining so the writers never block


def _filter(gpu: bool, ack_fd: int, token: bytes) -> None:
    """Copy stdin (the pipe) to stdout (the real stderr) line by line, dropping the noise.
    On the line `token`, everything before it has been written: say so on `ack_fd`."""
    pending, midline = b"", False  # midline: the start of pending's line is already out
    while True:
        ready, _, _ = select.select([0], [], [], _QUIET_S if pending else None)
        if not ready or len(pending) > 65536:
            _write(1, pending)
            pending, midline = b"", True
            if not ready:
                continue
        chunk = os.read(0, 65536)
        if not chunk:
            break  # every writer has closed fd 2
        *lines, pending = (pending + chunk).split(b"\n")
        out: list[bytes] = []
        for line in lines:
            if line.endswith(token):
                _write(1, b"".join(out) + line[: -len(token)])
                out = []
                _write(ack_fd, b".")
            elif midline or not is_noise(line, gpu):
                out.append(line + b"\n")
            midline = False
        _write(1, b"".join(out))
    _write(1, pending)


def quiet_tensorflow_start() -> None:
    """Filter fd 2 of this process and of those it starts later. Call once, first thing,
    before anything imports TensorFlow; later calls do nothing. If the filter cannot start,
    stderr stays as it was."""
    global _started
    if _started:
        return
    _started = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hides I and W lines, keeps errors
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    started = _start_filter()
    if started is None:
        return
    filter_process, original, ack_read, token = started
    # Python's own stderr needs no filter: writing it straight to the real stderr keeps it in
    # order with stdout. Left alone when replaced already (pytest capture, click's CliRunner).
    current = sys.stderr
    if current is sys.__stderr__ and current is not None:
        # Lives as long as the process, like the stderr it replaces.
        sys.stderr = open(  # noqa: SIM115
            os.dup(original), "w", buffering=1, encoding=current.encoding, errors=current.errors
        )
    pipe = os.fstat(2).st_ino
    atexit.register(_drain, filter_process, original, ack_read, token, (os.getpid(), pipe))


def _start_filter() -> tuple[subprocess.Popen[bytes], int, int, bytes] | None:
    """Start the filter process and point fd 2 at it; returns the process, a descriptor of
    the real stderr, the end the filter acknowledges on, and the drain token."""
    try:
        original = os.dup(2)
        read_end, write_end = os.pipe()
        ack_read, ack_write = os.pipe()
    except OSError:
        return None  # no fd 2 to filter, or no descriptors left
    token = b"quiet-start-drain-" + os.urandom(8).hex().encode()
    try:
        args = ["1" if _gpu_expected() else "0", str(ack_write), token.decode()]
        # Its own session: a Ctrl-C or a signal to our process group must not end it early.
        filter_process = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), *args],
            stdin=read_end,
            stdout=original,
            stderr=original,
            pass_fds=(ack_write,),
            start_new_session=True,
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        for fd in (original, read_end, write_end, ack_read, ack_write):
            os.close(fd)
        return None
    os.close(read_end)
    os.close(ack_write)
    os.dup2(write_end, 2)
    os.close(write_end)
    return filter_process, original, ack_read, token


def _drain(
    filter_process: subprocess.Popen[bytes],
    original: int,
    ack_read: int,
    token: bytes,
    owner: tuple[int, int],
) -> None:
    """At exit: wait until the filter has written everything this process sent it. `owner`
    is (pid, inode of the pipe) when the filter started."""
    try:
        if (os.getpid(), os.fstat(2).st_ino) != owner:
            return  # a forked child, or fd 2 was pointed elsewhere since
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        os.write(2, token + b"\n")
        os.dup2(original, 2)
        select.select([ack_read], [], [], 5.0)  # ready at once if the filter died
        filter_process.wait(timeout=0.2)  # ends now unless a child still holds the pipe
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass


if __name__ == "__main__":
    _filter(sys.argv[1] == "1", int(sys.argv[2]), sys.argv[3].encode())
