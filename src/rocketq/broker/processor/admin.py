"""Admin and query processors (filled in by the admin module)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rocketq.remoting.connection import ProcessorTable

if TYPE_CHECKING:
    from rocketq.broker.controller import BrokerController

__all__ = ["register_admin_processors"]


def register_admin_processors(table: ProcessorTable, ctl: BrokerController) -> None:
    """Register the admin request codes."""
