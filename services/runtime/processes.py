"""Child-process lifecycle helpers shared by the supervisor, the broker, the recorder's
log writer and the demo: die with the parent, and stop politely, then firmly.

Why here: each of those owns a child process and must never leave one behind (a stray
writer holding the log, a stray nats-server holding the port), and they had each
written the same few lines.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent dies (PR_SET_PDEATHSIG).

    Safe as a `preexec_fn`. Elsewhere than Linux it does nothing: callers keep their
    own second way out (a closed pipe, a stop at exit)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except OSError:
        pass


def stop_process(proc: subprocess.Popen, sig: int, timeout: float) -> int:
    """Send `sig` and wait up to `timeout` seconds; SIGKILL if it has not exited by then.
    Returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
