"""POP consumption as RocketMQ 5 has it, shared by the gRPC front end (ReceiveMessage) and
remoting's POP_MESSAGE: :mod:`.records` (receipt handles, checkpoint and ack records,
topic names), :mod:`.checkpoints` (pending checkpoints), :mod:`.revive` (the revive log and
service), :mod:`.orderly` (FIFO groups), :mod:`.service` (pop / ack / change invisible
time / long polling).
"""

from rocketq.broker.pop.records import ReceiptHandle, pop_retry_topic, revive_topic
from rocketq.broker.pop.service import PoppedMessage, PopService

__all__ = ["PopService", "PoppedMessage", "ReceiptHandle", "pop_retry_topic", "revive_topic"]
