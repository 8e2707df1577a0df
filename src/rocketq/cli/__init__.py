"""The ``rocketq`` command: run a NameServer, a broker or both, administer a cluster
(mqadmin's commands and flags) and benchmark it.

One module per area; each registers its commands on the groups of
:mod:`rocketq.cli.base` when imported; the groups import the areas on first use.
"""

# Each area registers its commands when imported; the groups of rocketq.cli.base import an
# area the first time one of its commands is asked for (a server starts without the admin).
from rocketq.cli.base import main, run_async

__all__ = ["main", "run_async"]
