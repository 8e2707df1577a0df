"""One asyncio adapter per TCP connection, used by servers and clients alike.

A ``Connection`` moves bytes between the socket and the sans-I/O codec and owns
what belongs to one connection: the ``opaque -> Future`` table of requests it sent,
their timeouts, the in-flight limit, the tasks running the requests it received,
and the reason it closed. Closing fails every pending request at once.

Requests that arrive are dispatched by code through a ``ProcessorTable``. A
processor may answer synchronously (return a command or ``None``) or be a
coroutine; raising ``BrokerError`` answers with that code and remark, any other
exception with SYSTEM_ERROR, as Java's ``NettyRemotingAbstract`` does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import typing
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeAlias

from rocketq.common.errors import (
    BrokerError,
    ProtocolError,
    RemotingSendRequestError,
    RemotingTimeoutError,
)
from rocketq.remoting.codec import DEFAULT_MAX_FRAME_LENGTH, FrameDecoder, encode_parts
from rocketq.remoting.codes import ResponseCode
from rocketq.remoting.command import FLAG_ONEWAY, FLAG_RESPONSE, RemotingCommand

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "Connection",
    "Decoder",
    "ManyProcessor",
    "Processor",
    "ProcessorTable",
]

log = logging.getLogger("rocketq.remoting")

# Java's NettyRemotingClient allows 65535 async and 65535 one-way requests in flight
# (clientAsyncSemaphoreValue / clientOnewaySemaphoreValue); beyond that callers wait.
DEFAULT_MAX_IN_FLIGHT = 65535
# opaque is a Java int; keep it positive and wrap like the C++ client (31 bits).
_OPAQUE_MASK = 0x7FFFFFFF

ProcessorResult: TypeAlias = RemotingCommand | None
Processor: TypeAlias = Callable[
    ["Connection", RemotingCommand], ProcessorResult | Awaitable[ProcessorResult]
]
# A processor of several requests of one read at once: one result per request, in order.
ManyProcessor: TypeAlias = Callable[
    ["Connection", list[RemotingCommand]], Sequence[ProcessorResult | Awaitable[ProcessorResult]]
]


class Decoder(Protocol):
    """What a connection reads frames with: ``codec.FrameDecoder``'s contract."""

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a whole frame."""

    def feed(self, data: bytes) -> list[RemotingCommand]:
        """Add bytes; return the commands completed by them, in order."""


class ProcessorTable:
    """Request code -> processor, and optionally -> a processor of many at once; and the
    decoder its connections read frames with."""

    def __init__(self) -> None:
        self._table: dict[int, Processor] = {}
        self.many: dict[int, ManyProcessor] = {}
        # max frame length -> a decoder; codec.FrameDecoder unless set_decoder said otherwise
        self.decoder: Callable[[int], Decoder] = FrameDecoder

    def set_decoder(self, decoder: Callable[[int], Decoder]) -> None:
        """Read frames with ``decoder(max_frame_length)`` (FrameDecoder's contract): a
        server whose processors take requests of their own kind (a ``RemotingCommand``
        subclass read straight from the frame, e.g. the broker's plain sends)."""
        self.decoder = decoder

    def register(self, code: int, processor: Processor, many: ManyProcessor | None = None) -> None:
        """Route requests with ``code`` to ``processor``; with ``many``, consecutive
        requests of such codes that arrive in one read go to ``many`` together (DESIGN
        principle 5: the sends of one read are stored with one append)."""
        self._table[int(code)] = processor
        if many is not None:
            self.many[int(code)] = many
        else:
            self.many.pop(int(code), None)

    def get(self, code: int) -> Processor | None:
        """The processor for ``code``, if any."""
        return self._table.get(code)

    def codes(self) -> list[int]:
        """Every registered code."""
        return sorted(self._table)


class Connection(asyncio.Protocol):
    """The protocol object of one connection (see module docstring)."""

    def __init__(
        self,
        processors: ProcessorTable | None = None,
        *,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        on_close: Callable[[Connection], None] | None = None,
        server_side: bool = False,
    ) -> None:
        self._processors = processors
        # A server's connection stops reading requests while its answers back up.
        self._server_side = server_side
        self._decoder: Decoder = (
            processors.decoder(max_frame_length)
            if processors is not None
            else FrameDecoder(max_frame_length)
        )
        # The in-flight limit of invoke(): a count, and futures of the callers waiting for
        # a slot (a Semaphore's acquire/release cost a few µs per request on the send path).
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._on_close = on_close
        self._pending: dict[int, asyncio.Future[RemotingCommand]] = {}
        self._deadlines = _Deadlines(self._pending, self._expire_due)
        self._tasks: set[asyncio.Task[None]] = set()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        # Frames written during this turn of the event loop, sent together by _flush with
        # one writelines (one send syscall) instead of one per frame: DESIGN principle 5.
        self._out: list[bytes] | None = None
        self._opaque = 0
        self.close_reason: str | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.peer = "?"
        self.local = "?"
        self.attributes: dict[str, Any] = {}  # per-connection state for processors

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = typing.cast(asyncio.Transport, transport)
        self.peer = _format_addr(transport.get_extra_info("peername"))
        self.local = _format_addr(transport.get_extra_info("sockname"))

    def data_received(self, data: bytes) -> None:
        try:
            commands = self._decoder.feed(data)
        except ProtocolError as exc:
            log.warning("closing connection %s: %s", self.peer, exc)
            self.close(f"protocol error: {exc}")
            return
        if self._processors is None or not self._processors.many:
            for cmd in commands:
                if cmd.flag & FLAG_RESPONSE:  # cmd.is_response without the property call
                    self._on_response(cmd)
                else:
                    self._on_request(cmd)
            return
        if not commands:
            return
        if self._out is not None:  # a flush is already due this turn
            self._on_commands(commands, self._processors.many)
            return
        # The answers of this read are sent at its end, with no call_soon and Handle for it
        # (a server answers most requests while it reads them).
        self._out = []
        try:
            self._on_commands(commands, self._processors.many)
        finally:
            self._flush()

    def _on_commands(self, commands: list[RemotingCommand], many: dict[int, ManyProcessor]) -> None:
        """The frames of one read: runs of requests that share a many-processor go to it
        together (a run of one too: one code path), everything else one by one, in
        arrival order."""
        run: list[RemotingCommand] = []
        run_with: ManyProcessor | None = None
        for cmd in commands:
            if cmd.flag & FLAG_RESPONSE:
                self._on_response(cmd)
                continue
            with_ = many.get(cmd.code)
            if run and with_ != run_with:
                self._on_run(run_with, run)
                run = []
            if with_ is None:
                self._on_request(cmd)
            else:
                run.append(cmd)
                run_with = with_
        if run:
            self._on_run(run_with, run)

    def _on_run(self, many: ManyProcessor | None, run: list[RemotingCommand]) -> None:
        if many is None:
            for cmd in run:
                self._on_request(cmd)
            return
        try:
            results = many(self, run)
        except Exception as exc:
            for cmd in run:
                self._reply(cmd, self._error_response(cmd, exc))
            return
        if results.count(None) == len(results):  # all answered already (usual): no loop
            return
        for cmd, result in zip(run, results, strict=True):
            if result is not None:  # None: answered already, or later by the processor
                self._settle(cmd, result)

    def eof_received(self) -> bool | None:
        # The peer will send no more. Bytes of a frame it never finished are a protocol
        # error worth a log line; either way returning None lets the transport close
        # (Netty's default without allowHalfClosure), after sending what is already written.
        self._flush()
        if self._decoder.buffered:
            reason = f"peer closed mid-frame, {self._decoder.buffered} bytes of it unread"
            log.warning("closing connection %s: %s", self.peer, reason)
            self.close(f"protocol error: {reason}")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_reason is None:
            self.close_reason = f"connection lost: {exc}" if exc else "closed by peer"
        self._fail_pending()
        for task in list(self._tasks):
            task.cancel()
        if not self.closed.done():
            self.closed.set_result(None)
        if self._on_close is not None:
            try:
                self._on_close(self)
            except Exception:
                log.exception("on_close callback failed for %s", self.peer)

    def pause_writing(self) -> None:
        # A server's peer reads slower than we answer: stop reading its requests until it
        # catches up. A client goes on reading: were both ends to stop reading while their
        # writes back up (big requests one way, big answers the other), neither would move.
        if self._transport is not None and self._server_side:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and self._server_side and not self._transport.is_closing():
            self._transport.resume_reading()

    # -- sending ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True until the connection is closed or lost."""
        return self._transport is not None and self.close_reason is None

    def write(self, cmd: RemotingCommand) -> None:
        """Write one command (sent with the others of this loop turn); raises
        ``RemotingSendRequestError`` when closed."""
        if self.close_reason is not None or self._transport is None:  # not is_open
            raise RemotingSendRequestError(
                f"connection to {self.peer} is closed ({self.close_reason})"
            )
        parts = encode_parts(cmd)
        if self._out is None:
            self._out = parts
            self._loop.call_soon(self._flush)
        else:
            self._out += parts

    async def invoke(self, cmd: RemotingCommand, timeout: float) -> RemotingCommand:
        """Send a request and wait at most ``timeout`` seconds for its response."""
        if self._in_flight >= self._max_in_flight:
            await self._wait_for_slot()
        self._in_flight += 1
        try:
            future = self.send_request(cmd, timeout)
            try:
                return await future
            except asyncio.CancelledError:
                # A caller that gave up must not leave its entry behind.
                if self._pending.get(cmd.opaque) is future:
                    del self._pending[cmd.opaque]
                raise
        finally:
            self._in_flight -= 1
            if self._slot_waiters:
                self._wake_slot_waiter()

    async def _wait_for_slot(self) -> None:
        """Wait until fewer than ``max_in_flight`` requests of :meth:`invoke` are out."""
        while self._in_flight >= self._max_in_flight:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._slot_waiters:
                    self._slot_waiters.remove(waiter)
                elif self._slot_waiters:
                    self._wake_slot_waiter()  # the slot it was woken for goes to the next
                raise

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def send_request(self, cmd: RemotingCommand, timeout: float) -> asyncio.Future[RemotingCommand]:
        """Send a request now; the future completes with its response or an error (a
        timeout after ``timeout`` seconds, or the connection closing)."""
        self._opaque = opaque = (self._opaque + 1) & _OPAQUE_MASK
        cmd.opaque = opaque
        cmd.flag &= _NOT_RESPONSE_OR_ONEWAY
        loop = self._loop
        future: asyncio.Future[RemotingCommand] = loop.create_future()
        self.write(cmd)
        self._pending[opaque] = future
        self._deadlines.add(loop, opaque, cmd.code, timeout)
        return future

    def send_oneway(self, cmd: RemotingCommand) -> None:
        """Send a request that gets no response (flag bit 1)."""
        self._opaque = (self._opaque + 1) & _OPAQUE_MASK
        cmd.opaque = self._opaque
        cmd.flag = (cmd.flag & ~FLAG_RESPONSE) | FLAG_ONEWAY
        self.write(cmd)

    def close(self, reason: str = "closed locally") -> None:
        """Close the connection; pending requests fail with ``reason``."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._transport is not None and not self._transport.is_closing():
            self._flush()  # what was written before close() still goes out
            self._transport.close()
        self._fail_pending()

    async def wait_closed(self) -> None:
        """Wait until the connection is fully closed."""
        await self.closed

    # -- internals -------------------------------------------------------------------------

    def _flush(self) -> None:
        out, self._out = self._out, None
        if out and self._transport is not None and not self._transport.is_closing():
            self._transport.writelines(out)

    def _expire_due(self, due: list[tuple[int, int, float]]) -> None:
        """Fail the requests whose time is up: (opaque, code, timeout) of each."""
        for opaque, code, timeout in due:
            future = self._pending.pop(opaque, None)
            if future is not None and not future.done():
                future.set_exception(
                    RemotingTimeoutError(
                        f"wait response on {self.peer} timeout {timeout * 1000:.0f}ms "
                        f"(request code {code}, opaque {opaque})"
                    )
                )

    def _fail_pending(self) -> None:
        self._deadlines.clear()
        if not self._pending:
            return
        pending = list(self._pending.values())
        self._pending.clear()  # in place: _Deadlines holds this table
        for future in pending:
            if not future.done():
                future.set_exception(
                    RemotingSendRequestError(
                        f"connection to {self.peer} closed before the response: {self.close_reason}"
                    )
                )

    def _on_response(self, cmd: RemotingCommand) -> None:
        future = self._pending.pop(cmd.opaque, None)
        if future is None:
            log.debug("unmatched response opaque %d from %s (late?)", cmd.opaque, self.peer)
        elif not future.done():
            future.set_result(cmd)

    def _on_request(self, cmd: RemotingCommand) -> None:
        processor = self._processors.get(cmd.code) if self._processors else None
        if processor is None:
            self._reply(
                cmd,
                cmd.make_response(
                    ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                    f" request type {cmd.code} not supported",
                ),
            )
            return
        try:
            result = processor(self, cmd)
        except Exception as exc:
            self._reply(cmd, self._error_response(cmd, exc))
            return
        self._settle(cmd, result)

    def _settle(
        self, cmd: RemotingCommand, result: ProcessorResult | Awaitable[ProcessorResult]
    ) -> None:
        # Most answers are ready now (checked first: cheaper than isawaitable); only a
        # processor that must wait gets a Task.
        if result is None or type(result) is RemotingCommand or not inspect.isawaitable(result):
            self._reply(cmd, result)
        else:
            task = self._loop.create_task(self._finish(cmd, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _finish(self, cmd: RemotingCommand, pending: Awaitable[ProcessorResult]) -> None:
        try:
            result = await pending
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            result = self._error_response(cmd, exc)
        self._reply(cmd, result)

    def _error_response(self, cmd: RemotingCommand, exc: Exception) -> RemotingCommand:
        if isinstance(exc, BrokerError):
            return cmd.make_response(exc.code, exc.remark)
        log.exception("processing request code %d from %s failed", cmd.code, self.peer)
        return cmd.make_response(ResponseCode.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}")

    def answer(self, request: RemotingCommand, response: RemotingCommand) -> None:
        """Answer ``request`` later, from a callback, when its processor returned None:
        nothing for a one-way request or a closed connection (as an answer returned)."""
        self._reply(request, response)

    def flush(self) -> None:
        """Send what was written so far now, not at the end of this read or loop turn (a
        processor's answers before its remaining work). What is written after goes out
        as it would have."""
        out = self._out
        if out:
            self._out = []  # a flush is still due (at the read's end, or the one scheduled)
            if self._transport is not None and not self._transport.is_closing():
                self._transport.writelines(out)

    def answer_frame(self, request: RemotingCommand, frame: bytes) -> None:
        """Answer ``request`` with a frame already encoded (its opaque, response flag and
        serialization included): a hot path's answer without a RemotingCommand. Nothing
        for a one-way request or a closed connection."""
        if request.flag & FLAG_ONEWAY or not self.is_open:
            return
        if self._out is None:
            self._out = [frame]
            self._loop.call_soon(self._flush)
        else:
            self._out.append(frame)

    def answer_frames(self, frames: list[bytes]) -> None:
        """:meth:`answer_frame` of several requests (none one-way) in one call, in order."""
        if not frames or not self.is_open:
            return
        if self._out is None:
            self._out = frames.copy()
            self._loop.call_soon(self._flush)
        else:
            self._out += frames

    def _reply(self, cmd: RemotingCommand, response: RemotingCommand | None) -> None:
        if response is None or cmd.is_oneway or not self.is_open:
            return
        response.opaque = cmd.opaque
        response.flag |= FLAG_RESPONSE
        response.serialize_type = cmd.serialize_type
        self.write(response)


def _format_addr(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


class _Deadlines:
    """When each request of one connection times out, with one timer for all of them.

    A ``call_later`` per request costs a timer handle, its heap entry and its cancel
    (about 3 µs on this machine, as much as the rest of a send). Requests are kept here by
    their timeout instead, rounded to ``_TIMEOUT_BUCKET_S``: within one bucket deadlines
    come in the order requests were sent, so only each bucket's head needs watching, and
    one timer is armed at the earliest head. Answered requests are skipped (they are no
    longer in the connection's pending table) as heads are looked at, so a bucket holds
    about what is in flight. A request expires at its own deadline, at most one bucket
    width late when a request with a slightly longer timeout went out just before it.
    Java's ``NettyRemotingAbstract#scanResponseTable`` scans every second instead.
    """

    __slots__ = ("_buckets", "_on_due", "_pending", "_timer", "_timer_at")

    def __init__(
        self,
        pending: dict[int, asyncio.Future[RemotingCommand]],
        on_due: Callable[[list[tuple[int, int, float]]], None],
    ) -> None:
        self._pending = pending  # the connection's opaque -> future table
        # bucket key -> deque of (deadline, opaque, code, timeout), in deadline order
        self._buckets: dict[int, deque[tuple[float, int, int, float]]] = {}
        self._on_due = on_due
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = _NEVER

    def add(self, loop: asyncio.AbstractEventLoop, opaque: int, code: int, timeout: float) -> None:
        """Watch request ``opaque`` (pending until answered) for ``timeout`` seconds."""
        deadline = loop.time() + timeout
        key = int(timeout * _BUCKETS_PER_S)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = deque()
        else:
            pending = self._pending
            while bucket and bucket[0][1] not in pending:
                bucket.popleft()  # answered already
            if len(bucket) > _COMPACT_AT and len(bucket) > 4 * len(pending):
                # A request held long at the head (a long-polling pull) keeps the answered
                # ones behind it: drop them now and then, keeping the order.
                bucket = self._buckets[key] = deque(e for e in bucket if e[1] in pending)
        bucket.append((deadline, opaque, code, timeout))
        if deadline < self._timer_at:
            self._arm(loop, bucket[0][0])

    def __len__(self) -> int:
        """Entries held, answered ones not yet dropped included."""
        return sum(len(bucket) for bucket in self._buckets.values())

    def clear(self) -> None:
        """Forget everything (the connection closed: every request failed at once)."""
        self._buckets.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = _NEVER

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._fire, loop)
        self._timer_at = when

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, _NEVER
        # Timers may fire a little early (the loop's clock resolution): count that as due.
        now = loop.time() + _TIMER_SLACK_S
        due: list[tuple[int, int, float]] = []
        earliest = _NEVER
        pending = self._pending
        for key, bucket in list(self._buckets.items()):
            while bucket and (bucket[0][0] <= now or bucket[0][1] not in pending):
                _deadline, opaque, code, timeout = bucket.popleft()
                if _deadline <= now and opaque in pending:
                    due.append((opaque, code, timeout))
            if bucket:
                earliest = min(earliest, bucket[0][0])
            else:
                del self._buckets[key]
        if earliest < _NEVER:
            self._arm(loop, earliest)
        if due:
            self._on_due(due)


# Requests whose timeouts differ by less than this share a deadline bucket (see _Deadlines).
_TIMEOUT_BUCKET_S = 0.01
_BUCKETS_PER_S = 100.0  # 1 / _TIMEOUT_BUCKET_S, multiplied (cheaper than a division)
# A deadline bucket longer than this, and four times the requests pending, is compacted.
_COMPACT_AT = 1024
# A timer that fires this much before its time still counts as on time.
_TIMER_SLACK_S = 0.001
_NEVER = float("inf")
# A request's flag bits cleared before it is sent.
_NOT_RESPONSE_OR_ONEWAY = ~(FLAG_RESPONSE | FLAG_ONEWAY)
