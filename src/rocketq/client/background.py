"""The one background event loop the blocking client runs on, and the base of the blocking
facades (see :mod:`rocketq.client.sync`)."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from rocketq.common.errors import ClientError

__all__ = ["BackgroundLoop", "Facade"]

log = logging.getLogger("rocketq.client")

_T = TypeVar("_T")
# How long interpreter exit waits for the loop thread to finish its last callbacks.
_STOP_JOIN_TIMEOUT_S = 5.0


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class BackgroundLoop:
    """An event loop running forever in a daemon thread; blocking code submits to it."""

    _default: BackgroundLoop | None = None
    _default_lock = threading.Lock()

    def __init__(self, name: str = "rocketq-client") -> None:
        self._loop = _new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    @classmethod
    def default(cls) -> BackgroundLoop:
        """The process-wide loop, created on first use and stopped at exit."""
        with cls._default_lock:
            if cls._default is None or not cls._default.running:
                cls._default = cls()
                atexit.register(cls._default.stop)
            return cls._default

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the cores run on."""
        return self._loop

    @property
    def running(self) -> bool:
        """True until ``stop()``."""
        return self._thread.is_alive() and not self._loop.is_closed()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._cancel_leftovers()
            self._loop.close()

    def _cancel_leftovers(self) -> None:
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        if tasks:
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Schedule ``coro`` on the loop; its result arrives in the returned future."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for its result (Ctrl-C cancels it)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise ClientError(
                "a blocking rocketq call was made on the client's own event loop thread "
                "(from a callback or an async listener); use the async API there"
            )
        if not self.running:
            coro.close()
            raise ClientError("the rocketq client loop has stopped (interpreter exit?)")
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def call(self, fn: Callable[[], _T]) -> _T:
        """Run a plain function on the loop thread (to build objects bound to the loop)."""

        async def wrapper() -> _T:
            return fn()

        return self.run(wrapper())

    def stop(self) -> None:
        """Cancel what still runs on the loop and end the thread."""
        if not self.running:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(_STOP_JOIN_TIMEOUT_S)


class Facade:
    """Shared plumbing: the loop, ``start``/``shutdown`` and the context manager."""

    _runner: BackgroundLoop
    _core: Any

    def start(self) -> None:
        """Start the client (blocks until started)."""
        self._runner.run(self._core.start())

    def shutdown(self) -> None:
        """Stop the client (blocks until offsets are persisted and brokers told)."""
        self._runner.run(self._core.aclose())

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()
