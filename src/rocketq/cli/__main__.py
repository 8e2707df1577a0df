"""``python -m rocketq.cli`` is the ``rocketq`` command."""

from rocketq.cli import main

main()
