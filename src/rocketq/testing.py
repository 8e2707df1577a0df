"""Helpers to run rocketq servers inside your own tests.

``NamesrvProcess`` starts a real ``rocketq namesrv`` in a child process on a free
loopback port and stops it again::

    with NamesrvProcess(tmp_path) as ns:
        admin = AdminClient(ns.addr)

``running_namesrv`` runs one in the current event loop instead (no process), and
``running_cluster`` a NameServer and a broker::

    async with running_cluster(tmp_path) as (namesrv, broker):
        ...

``controller_cluster`` starts a NameServer running the RocketMQ 5 controller and a group
of controller-mode brokers (real processes, free ports, timers shortened through config)::

    with controller_cluster(tmp_path, brokers=3) as cluster:
        async with AdminClient(cluster.namesrv.addr) as admin:
            route = await cluster.wait_settled(admin)  # {0: master, id: slave, ...}

``async_wait_until`` (in a coroutine) and ``wait_until`` (in plain code) poll a condition
until it holds; a test waits for what it expects, never for a fixed time::

    received = await async_wait_until(lambda: len(got) >= 10)
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from rocketq.namesrv import NamesrvConfig, NamesrvController

if TYPE_CHECKING:
    from rocketq.admin import AdminClient
    from rocketq.broker.controller import BrokerController

__all__ = [
    "FAST_BROKER_TIMERS",
    "FAST_CONTROLLER_TIMERS",
    "BrokerProcess",
    "ControllerCluster",
    "NamesrvProcess",
    "async_wait_until",
    "controller_cluster",
    "create_replicated_topic",
    "free_ports",
    "running_cluster",
    "running_namesrv",
    "wait_until",
]

# A NameServer starts in well under a second; allow for a loaded 2-core CI machine.
DEFAULT_START_TIMEOUT = 30.0
# How long a condition may take to hold: things that normally take well under a second
# (a rebalance, a long-poll wake-up, a shortened expiry) on a loaded 2-core CI machine.
DEFAULT_WAIT_TIMEOUT = 30.0
# How often it is checked: often enough that a test ends soon after it holds, seldom
# enough that the checks do not compete with the servers for the CPU.
DEFAULT_WAIT_INTERVAL = 0.05
_READY = re.compile(r"ready: listening on ([\d.]+):(\d+)")
_BROKER_READY = re.compile(r"rocketq broker ready: (\S+) listening on ([\d.]+):(\d+)")
_T = TypeVar("_T")


def _timed_out(predicate: object, timeout: float, message: str) -> AssertionError:
    what = message or getattr(predicate, "__qualname__", repr(predicate))
    return AssertionError(f"not true within {timeout} s: {what}")


def wait_until(
    predicate: Callable[[], _T],
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    interval: float = DEFAULT_WAIT_INTERVAL,
    message: str = "",
) -> _T:
    """Call ``predicate`` every ``interval`` seconds until it returns a true value and return
    that value; raise ``AssertionError`` (naming ``message`` or the predicate) after
    ``timeout`` seconds. Blocking: in a coroutine use ``async_wait_until`` (a blocking wait
    there would stop the very loop that has to make the condition true, so it raises
    ``RuntimeError``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("wait_until blocks the running event loop; use async_wait_until")
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise _timed_out(predicate, timeout, message)
        time.sleep(interval)
    return value


async def async_wait_until(
    predicate: Callable[[], _T | Awaitable[_T]],
    timeout: float = DEFAULT_WAIT_TIMEOUT,
    interval: float = DEFAULT_WAIT_INTERVAL,
    message: str = "",
) -> _T:
    """``wait_until`` for coroutines: ``predicate`` may be a plain function or return an
    awaitable (``async def``); the loop keeps running between checks."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(predicate, timeout, message)
        await asyncio.sleep(interval)


class _ServerProcess:
    """A ``python -m rocketq ...`` child process that prints a ready line; the base of
    ``NamesrvProcess`` and ``BrokerProcess``."""

    kind = "server"
    ready_pattern: re.Pattern[str] = _READY

    def __init__(self, workdir: str | os.PathLike[str], start_timeout: float) -> None:
        self.workdir = Path(workdir)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def addr(self) -> str:
        """``host:port`` for clients (127.0.0.1 unless bound to another address)."""
        return f"{self.addr_host}:{self.port}"

    addr_host = "127.0.0.1"

    @property
    def log_path(self) -> Path:
        """Where the process's stderr (its log) goes."""
        return self.workdir / f"{self.kind}.log"

    def command(self) -> list[str]:
        """The ``rocketq`` arguments (after ``python -m rocketq``)."""
        raise NotImplementedError

    def on_ready(self, match: re.Match[str]) -> None:
        """Take what the ready line says (at least the port)."""
        raise NotImplementedError

    # Put before ``python -m rocketq`` (e.g. ``["ip", "netns", "exec", "ns1"]``).
    wrapper: Sequence[str] = ()

    def _launch(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [*self.wrapper, sys.executable, "-m", "rocketq", *self.command()],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            m = self.ready_pattern.search(line)
            if m:
                self.on_ready(m)
                self._reader = threading.Thread(target=self._drain, daemon=True)
                self._reader.start()
                return
        self.stop()
        logged = self.log_path.read_text()
        raise RuntimeError(f"{self.kind} did not become ready:\n{''.join(self.output)}\n{logged}")

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL after ``timeout``); return its exit code.
        A stopped (SIGSTOP) process is continued first, so that it can act on ``sig``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class NamesrvProcess(_ServerProcess):
    """A ``rocketq namesrv`` child process bound to 127.0.0.1 on a free port."""

    kind = "namesrv"
    ready_pattern = _READY

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        config: dict[str, str] | None = None,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(workdir, start_timeout)
        self.config = {"kvConfigPath": str(self.workdir / "kvConfig.json"), **(config or {})}
        self.host = host
        if host not in ("0.0.0.0", "::"):
            self.addr_host = host

    def command(self) -> list[str]:
        conf = self.workdir / "namesrv.conf"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))
        return ["namesrv", "-p", "0", "--host", self.host, "-c", str(conf)]

    def on_ready(self, match: re.Match[str]) -> None:
        self.port = int(match.group(2))

    def start(self) -> NamesrvProcess:
        """Start the process and wait for its ready line."""
        self._launch()
        return self

    def __enter__(self) -> NamesrvProcess:
        return self.start()


class BrokerProcess(_ServerProcess):
    """A ``rocketq broker`` child process on 127.0.0.1 and a free port, registered with
    ``namesrv_addr``; its store is ``workdir/store`` and ``config`` goes to a broker.conf::

        with NamesrvProcess(tmp_path / "ns") as ns, BrokerProcess(tmp_path / "b", ns.addr) as b:
            ...  # b.addr, b.broker_name
    """

    kind = "broker"
    ready_pattern = _BROKER_READY

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        namesrv_addr: str,
        config: dict[str, str] | None = None,
        *,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        host: str = "127.0.0.1",
        wrapper: Sequence[str] = (),
    ) -> None:
        super().__init__(workdir, start_timeout)
        self.namesrv_addr = namesrv_addr
        self.config = {"brokerName": "broker-a", **(config or {})}
        self.broker_name = self.config["brokerName"]
        self.host = host  # bound and advertised (unless brokerIP1 says otherwise)
        self.wrapper = tuple(wrapper)
        # Reached where it binds; bound everywhere, where it says it is (brokerIP1).
        reachable = self.config.get("brokerIP1", "127.0.0.1") if host in ("0.0.0.0", "::") else host
        self.addr_host = reachable

    @property
    def store_dir(self) -> Path:
        """The broker's storePathRootDir."""
        return self.workdir / "store"

    def command(self) -> list[str]:
        conf = self.workdir / "broker.conf"
        conf.write_text("".join(f"{k}={v}\n" for k, v in self.config.items()))
        return [
            "broker",
            "-n",
            self.namesrv_addr,
            "-p",
            self.config.get("listenPort", "0"),  # a fixed port survives a restart
            "--host",
            self.host,
            "--store",
            str(self.store_dir),
            "-c",
            str(conf),
        ]

    def on_ready(self, match: re.Match[str]) -> None:
        self.broker_name, self.port = match.group(1), int(match.group(3))

    def start(self) -> BrokerProcess:
        """Start the process and wait for its ready line."""
        self._launch()
        return self

    def __enter__(self) -> BrokerProcess:
        return self.start()


@contextlib.asynccontextmanager
async def running_namesrv(config: NamesrvConfig | None = None) -> AsyncIterator[NamesrvController]:
    """A NameServer in this event loop on 127.0.0.1 and a free port."""
    config = config or NamesrvConfig(kv_config_path="")
    config.bind_address = "127.0.0.1"
    config.listen_port = 0
    controller = NamesrvController(config)
    await controller.start()
    try:
        yield controller
    finally:
        await controller.aclose()


@contextlib.asynccontextmanager
async def running_cluster(
    store_dir: str | os.PathLike[str], broker_config: dict[str, str] | None = None
) -> AsyncIterator[tuple[NamesrvController, BrokerController]]:
    """A NameServer and a broker (broker-a) in this event loop, on 127.0.0.1 and free ports,
    storing under ``store_dir``; ``broker_config`` takes broker.conf keys::

        async with running_cluster(tmp_path) as (namesrv, broker):
            producer = AsyncProducer("group", namesrv.address)
    """
    from rocketq.broker.config import load_broker_conf
    from rocketq.broker.controller import BrokerController

    async with running_namesrv() as namesrv:
        overrides = {"brokerName": "broker-a", **(broker_config or {})}
        overrides |= {
            "namesrvAddr": namesrv.address,
            "listenPort": "0",
            "bindAddress": "127.0.0.1",
            "storePathRootDir": str(store_dir),
        }
        broker_cfg, store_cfg, _unknown = load_broker_conf(None, overrides)
        broker_cfg.broker_ip1 = "127.0.0.1"
        broker = BrokerController(broker_cfg, store_cfg)
        await broker.start()
        try:
            yield namesrv, broker
        finally:
            await broker.aclose()


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` ports the kernel had free a moment ago (for servers that must keep their
    port over a restart, where port 0 would not do)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]


# RocketMQ's controller scans (5 s each) shortened through their keys: a dead master is
# replaced in well under a second instead of seconds.
FAST_CONTROLLER_TIMERS = {
    "scanNotActiveBrokerInterval": "300",
    "scanInactiveMasterInterval": "300",
    "brokerChannelExpiredTime": "600000",
}
# A controller-mode broker's periods (RocketMQ: heartbeat 1 s, metadata 5 s/10 s, ISR check
# 5 s, HA heartbeat 5 s, housekeeping 20 s, reconnect 5 s) shortened the same way.
FAST_BROKER_TIMERS = {
    "brokerHeartbeatInterval": "200",
    "syncBrokerMetadataPeriod": "300",
    "checkSyncStateSetPeriod": "300",
    "syncControllerMetadataPeriod": "1000",
    "haSendHeartbeatInterval": "500",
    "haHousekeepingInterval": "5000",
    "haConnectRetryInterval": "200",
    "slaveTimeout": "3000",
}
# How long a controller group may take to reach its full SyncStateSet: broker starts and
# restarts on a loaded 2-core machine.
DEFAULT_SETTLE_TIMEOUT = 60.0


class ControllerCluster:
    """A NameServer with the controller inside (``enableControllerInNamesrv``) and
    ``brokers`` brokers of one group on fixed free ports, so a restarted broker keeps its
    address. ``controller_mode=False`` gives a classic group on the same NameServer (its
    brokers' ``brokerRole``/``brokerId`` then come from ``broker_configs``).
    ``broker_config`` goes to every broker, ``broker_configs[i]`` to broker ``i`` only."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        brokers: int = 3,
        *,
        broker_name: str = "broker-a",
        controller_mode: bool = True,
        broker_config: dict[str, str] | None = None,
        broker_configs: Sequence[dict[str, str]] = (),
        namesrv_config: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.root = Path(root)
        self.broker_name = broker_name
        self.host = host
        peer, raft = free_ports(2, host)
        self.controller = f"{host}:{peer}"
        self.namesrv_config = {
            "enableControllerInNamesrv": "true",
            "controllerDLegerGroup": "group1",
            "controllerDLegerPeers": f"n0-{self.controller}",
            "controllerRaftPeers": f"n0-{host}:{raft}",
            "controllerDLegerSelfId": "n0",
            "controllerStorePath": str(self.root / "controller"),
            **FAST_CONTROLLER_TIMERS,
            **(namesrv_config or {}),
        }
        self.namesrv = NamesrvProcess(self.root / "ns", self.namesrv_config, host=host)
        ports = free_ports(2 * brokers, host)
        mode = {
            "enableControllerMode": "true",
            "controllerAddr": self.controller,
            "brokerId": "-1",
            "allAckInSyncStateSet": "true",
        }
        self.configs = [
            {
                "brokerName": broker_name,
                "listenPort": str(ports[2 * i]),
                "haListenPort": str(ports[2 * i + 1]),
                **FAST_BROKER_TIMERS,
                **(mode if controller_mode else {}),
                **(broker_config or {}),
                **(broker_configs[i] if i < len(broker_configs) else {}),
            }
            for i in range(brokers)
        ]
        self.dirs = [self.root / f"b{i}" for i in range(brokers)]
        self.brokers = [self._process(i) for i in range(brokers)]

    def _process(self, i: int, wrapper: Sequence[str] = ()) -> BrokerProcess:
        return BrokerProcess(
            self.dirs[i], self.namesrv.addr, self.configs[i], host=self.host, wrapper=wrapper
        )

    def start(self, *, brokers: bool = True) -> ControllerCluster:
        """Start the NameServer and (unless told not to) every broker."""
        self.namesrv.start()
        for i in range(len(self.brokers)) if brokers else ():
            self.start_broker(i)
        return self

    def start_broker(self, i: int, **kwargs: Any) -> BrokerProcess:
        """(Re)start broker ``i`` on its ports and store; ``kwargs`` as for BrokerProcess
        (``wrapper``, ``host``)."""
        if self.brokers[i].proc is not None:
            self.brokers[i].stop()
        proc = BrokerProcess(
            self.dirs[i], self.namesrv.addr, self.configs[i], **{"host": self.host, **kwargs}
        )
        self.brokers[i] = proc.start()
        return proc

    def index_of(self, addr: str) -> int:
        """Which broker serves ``addr``."""
        return next(i for i, p in enumerate(self.brokers) if p.addr == addr)

    def pid(self, addr: str) -> int:
        """The process id of the broker at ``addr``."""
        proc = self.brokers[self.index_of(addr)].proc
        assert proc is not None, f"broker {addr} is not running"
        return proc.pid

    def stop(self) -> None:
        """Stop every broker (continuing stopped ones), then the NameServer."""
        for proc in self.brokers:
            proc.stop()
        self.namesrv.stop()

    async def route(self, admin: AdminClient) -> dict[int, str]:
        """brokerId -> address of the group in the NameServer's cluster info."""
        info = await admin.cluster_info()
        data = info.broker_addr_table.get(self.broker_name)
        return dict(data.broker_addrs) if data is not None else {}

    async def sync_state(self, admin: AdminClient) -> dict[str, Any]:
        """The controller's view of the group (CONTROLLER_GET_SYNC_STATE_DATA):
        ``masterBrokerId``, ``masterEpoch``, ``inSyncReplicas``, ``notInSyncReplicas``..."""
        state = await admin.sync_state_data(self.controller, [self.broker_name])
        return dict(state.get(self.broker_name) or {})

    async def in_sync_addresses(self, admin: AdminClient) -> set[str]:
        """Addresses of the SyncStateSet's members, as the controller has them."""
        state = await self.sync_state(admin)
        return {r["brokerAddress"] for r in state.get("inSyncReplicas") or []}

    async def wait_settled(
        self, admin: AdminClient, timeout: float = DEFAULT_SETTLE_TIMEOUT
    ) -> dict[int, str]:
        """Wait for a master and every broker in the route and (controller mode) every
        broker in the SyncStateSet; return the route. On timeout the AssertionError names
        the route and the controller's view."""
        everyone = len(self.brokers)
        controller_mode = self.configs[0].get("enableControllerMode") == "true"

        async def ready() -> dict[int, str]:
            r = await self.route(admin)
            if 0 not in r or len(r) != everyone:
                return {}
            if controller_mode and len(await self.in_sync_addresses(admin)) != everyone:
                return {}
            return r

        try:
            return await async_wait_until(ready, timeout, 0.05, "group did not settle")
        except AssertionError as exc:
            state = await self.sync_state(admin) if controller_mode else {}
            raise AssertionError(f"{exc}; route {await self.route(admin)}, {state}") from None


async def create_replicated_topic(
    admin: AdminClient,
    master: str,
    slaves: Sequence[str],
    topic: str,
    queues: int,
    timeout: float = DEFAULT_SETTLE_TIMEOUT,
) -> None:
    """Create ``topic`` on ``master`` and wait until every slave serves it too (slaves copy
    their master's topics every ``syncBrokerMetadataPeriod``)."""
    from rocketq.common.errors import RocketQError
    from rocketq.common.topic import TopicConfig

    await admin.create_topic(master, TopicConfig(topic, queues, queues))

    async def slaves_know_it() -> bool:
        for addr in slaves:
            try:
                await admin.pull(addr, topic, 0, 0)
            except RocketQError:
                return False
        return True

    known: bool = await async_wait_until(slaves_know_it, timeout, message=f"no {topic} on slaves")
    assert known


@contextlib.contextmanager
def controller_cluster(
    root: str | os.PathLike[str], brokers: int = 3, **kwargs: Any
) -> Iterator[ControllerCluster]:
    """A started :class:`ControllerCluster` (arguments as there), stopped on exit."""
    cluster = ControllerCluster(root, brokers, **kwargs)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
