"""What every rocketq server and client shares: ``async with x:`` starts ``x`` and closes it
on the way out, whatever happened inside."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncLifecycle"]


class AsyncLifecycle:
    """An async context manager over :meth:`start` and :meth:`aclose`, which subclasses
    define (NamesrvController, BrokerController, ControllerManager, the async clients)."""

    async def start(self) -> None:
        """Start serving (or connect); the subclass's own."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Stop and release everything; the subclass's own."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
