"""Admin API used by the ``rocketq admin`` CLI and the console."""

from rocketq.admin.api import AdminClient, parse_namesrv_addrs

__all__ = ["AdminClient", "parse_namesrv_addrs"]
