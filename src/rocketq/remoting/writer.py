"""Sending a busy connection's frames from a thread of its own (compiled core only).

On loopback a ``send`` does the receiving side's TCP work as well, in the caller: with the
Java benchmark Producer a quarter of the broker's event-loop thread went into
``transport.writelines``. A :class:`SocketWriter` (``_kernels.pyx``) takes the frames of a
loop turn with one ``memcpy`` under a mutex and sends them from its thread without the
GIL, on a ``dup`` of the socket, so that work runs on the machine's other core while the
loop goes on decoding and storing (DESIGN principle 19; issue 11 step 4).

Without the compiled core :func:`socket_writer` gives None and the transport writes, as
before: the pure-Python reference of "writing" is the transport itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Protocol

from rocketq.common import speedups

__all__ = ["SocketWriter", "socket_writer", "start_writer_thread"]

log = logging.getLogger("rocketq.remoting")

# The writer thread runs niced: woken by the event loop's thread, it must not take that
# thread's core from it (the scheduler would run it there at once), only the idle one.
_WRITER_NICENESS = 10


class SocketWriter(Protocol):
    """What ``_kernels.SocketWriter`` offers (see its docstring)."""

    @property
    def pending(self) -> int:
        """Bytes written and not yet handed to the kernel."""

    @property
    def error(self) -> int:
        """errno of the send that failed, 0 while none did."""

    def write(self, frames: list[bytes]) -> int:
        """Queue frames in order: bytes still waiting, -1 once failed or closed."""

    def close(self) -> None:
        """Send what is pending, then stop and close the writer's descriptor."""

    def run(self) -> int:
        """The thread body: the failed send's errno, 0 after a clean close."""


@speedups.twin
def socket_writer(fd: int) -> SocketWriter | None:
    """A writer for the socket ``fd``, or None: without the compiled core the event
    loop's transport keeps writing."""
    del fd
    return None


def start_writer_thread(writer: SocketWriter, name: str, done: Callable[[int], None]) -> None:
    """Run ``writer`` on a daemon thread; ``done(errno)`` is called on that thread when it
    ends (use ``call_soon_threadsafe`` in it)."""

    def body() -> None:
        error = 0
        with contextlib.suppress(OSError):  # not fatal: only the scheduling is affected
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _WRITER_NICENESS)
        try:
            error = writer.run()
        except Exception:  # pragma: no cover - run() raises nothing it does not return
            log.exception("socket writer %s failed", name)
            error = -1
        finally:
            done(error)

    threading.Thread(target=body, name=f"rocketq-writer-{name}", daemon=True).start()


def describe_error(error: int) -> str:
    """``errno`` as words, for a close reason."""
    return os.strerror(error) if error > 0 else "writer failed"
