"""The ``rocketq`` command: run a NameServer, a broker or both, administer a cluster
(mqadmin's commands and flags) and benchmark it.

One module per area; each registers its commands on the groups of
:mod:`rocketq.cli.base` when imported, so this package imports them all.
"""

# Each area registers its commands when imported.
from rocketq.cli import (  # noqa: F401
    acl,
    bench,
    broker_ops,
    config,
    consumer,
    controller,
    controller_admin,
    dlq,
    export,
    group,
    message,
    message_print,
    servers,
    topic,
    trace,
)
from rocketq.cli.base import main, run_async

__all__ = ["main", "run_async"]
