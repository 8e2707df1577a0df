"""``python -m rocketq`` is the ``rocketq`` command."""

from rocketq.cli import main

main()
