"""The storage proxy: one process holds the study's database for any number of workers, which
join with `storage: grpc://HOST:PORT` (proxy_client.py). For hundreds of workers, or a
PostgreSQL server whose `max_connections` is small: a worker holds one gRPC connection to the
proxy and none to the database, and the proxy at most THREADS database connections.

What it serves, on one gRPC server:

- Optuna's storage service (OptunaStorageProxyService, what `run_grpc_proxy_server` serves)
  over `optuna.storages.get_storage(...)`, so with Optuna's trial cache, of the same
  RDBStorage a worker would open (pool pre-ping and recycle, riding out a database restart;
  the schema created once, under the store-creation lock, when the proxy starts).
- A small coordinator service (proxy_protocol.py) for what Optuna 5.0's proxy lacks:

  The claim lock (claims.py). A worker behind the proxy has no database connection to take
  the study's lock on, so the proxy takes the very same lock for it (the PostgreSQL advisory
  lock, or the file lock beside a SQLite file) and holds it while the worker keeps its Claim
  stream open. Being the database's own lock, it excludes workers of this proxy, of another
  proxy and workers connected directly alike. The worker cancels the stream to release it;
  a worker that dies closes its connection (or stops answering keepalive pings, found within
  20 s), gRPC ends the stream, and the lock is released. A busy lock is answered at once and
  the worker waits on its side, so waiting workers never tie up the proxy's threads: only a
  holder does, one per study at a time. Weighed and left: a lease with expiry (it needs
  renewing while a slow sampler holds it, and lapsing means an overshoot) and a lock inside
  the proxy only (two proxies, or a proxy beside direct workers, would not exclude each other).

  Heartbeats. GrpcStorageProxy is no BaseHeartbeat in Optuna 5.0, so a killed worker's trial
  would stay RUNNING. Recording a heartbeat and finding stale trials are two calls here, run
  on the RDBStorage with the database's clock and the worker's grace period: a killed worker's
  trial is failed and retried exactly as on PostgreSQL.

Connections: each of the THREADS gRPC threads uses at most one database connection at a time
(Optuna's sessions are per thread; a held claim lock's connection is its holder thread's), so
the pool is sized to THREADS and never waits, whatever the number of workers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import optuna
from optuna.storages import RDBStorage, get_storage
from optuna.storages._grpc.auto_generated import api_pb2_grpc
from optuna.storages._grpc.servicer import OptunaStorageProxyService

from fashion_models.config.secrets import mask_url
from fashion_models.config.sections import WorkersSection
from fashion_models.config.study_file import proxied_storage_problem
from fashion_models.errors import ArgumentError, FatalError
from fashion_models.search import proxy_protocol as wire
from fashion_models.search.claims import ClaimLock, claim_lock
from fashion_models.search.proxy_security import ServerSecurity
from fashion_models.search.reconnect import Reconnect, ReconnectingRDBStorage
from fashion_models.search.signals import interruptible, stop_on_signals
from fashion_models.search.storages import build_storage

THREADS = 10  # gRPC threads, as Optuna's proxy; also the most database connections it holds
POOL = (THREADS // 2, THREADS - THREADS // 2)  # kept open, and opened only in a burst
STOP_GRACE = 2.0  # seconds calls in flight get to finish when the proxy stops
HOLD_CHECK = 1.0  # seconds between looks at whether a claim's stream is still open


def serve(
    url: str,
    host: str,
    port: int,
    echo: Callable[[str], None] = print,
    security: ServerSecurity | None = None,
) -> None:
    """Serve the storage at `url` on host:port until SIGINT or SIGTERM (Interrupted), to the
    workers `security` lets in (proxy_security.py)."""
    problem = proxied_storage_problem(url)
    if problem is not None:
        raise ArgumentError(f"--storage: {problem}, found {mask_url(url)!r}")
    security = security or ServerSecurity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # What optuna.storages._grpc.server.make_server builds, with keepalive (a dead worker's
    # claim is released), the coordinator beside Optuna's service, and TLS and the token
    # check in front of both.
    server = grpc.server(
        ThreadPoolExecutor(THREADS, thread_name_prefix="storage-proxy"),
        interceptors=security.interceptors(),
        options=wire.SERVER_OPTIONS,
    )
    _bind(server, host, port, security.credentials())  # first: a port in use leaves the
    # database untouched
    storage = _open(url)
    try:
        service = OptunaStorageProxyService(get_storage(storage))
        api_pb2_grpc.add_StorageServiceServicer_to_server(service, server)
        server.add_generic_rpc_handlers((Coordinator(url, storage).handler(),))
        server.start()
        scheme = "grpc" if security.cert is None else "grpcs"
        echo(
            f"storage proxy for {mask_url(url)} on {wire.target(host, port)} "
            f"({security.describe()}): workers join with "
            f"storage: {scheme}://{wire.target(_reachable(host), port)} (Ctrl-C stops it)"
        )
        try:
            with stop_on_signals(), interruptible():  # waiting is safe to interrupt anywhere
                server.wait_for_termination()
        finally:
            server.stop(STOP_GRACE).wait()
    finally:
        storage.engine.dispose()


def _bind(
    server: grpc.Server, host: str, port: int, credentials: grpc.ServerCredentials | None
) -> None:
    address = wire.target(host, port)
    try:
        if credentials is None:
            server.add_insecure_port(address)
        else:
            server.add_secure_port(address, credentials)
    except RuntimeError:
        raise FatalError(
            f"cannot serve on {wire.target(host, port)}: the port is in use, or {host} is "
            "not an address of this host"
        ) from None


def _open(url: str) -> RDBStorage:
    storage = build_storage(url, pool=POOL)
    assert isinstance(storage, RDBStorage)  # proxied_storage_problem let only databases in
    if isinstance(storage, ReconnectingRDBStorage):
        # The proxy outlives an outage: each call waits anew instead of the proxy giving up.
        retry = WorkersSection.storage_retry_seconds
        storage.reconnect = Reconnect(url, retry, sticky=False)
    return storage


def _reachable(host: str) -> str:
    """How workers name this host: its name when the proxy listens on every interface."""
    return socket.gethostname() if host in ("0.0.0.0", "::", "") else host


class Coordinator:
    """The proxy's side of proxy_protocol.py: claim locks held for workers, heartbeats."""

    def __init__(self, url: str, storage: RDBStorage):
        self.url = url
        self.storage = storage
        self._claimed: set[str] = set()  # studies whose claim lock a worker here holds
        self._mutex = threading.Lock()
        self._views: dict[int, RDBStorage] = {}

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            wire.SERVICE,
            {
                wire.HELLO: grpc.unary_unary_rpc_method_handler(self.hello),
                wire.CLAIM: grpc.unary_stream_rpc_method_handler(self.claim),
                wire.HEARTBEAT: grpc.unary_unary_rpc_method_handler(self.heartbeat),
                wire.STALE: grpc.unary_unary_rpc_method_handler(self.stale_trial_ids),
            },
        )

    def hello(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return wire.encode({"protocol": wire.PROTOCOL})

    def claim(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        """GRANTED, then held until the worker ends the stream (or its connection dies); or
        BUSY at once."""
        study = str(wire.decode(request)["study"])
        lock = self._take(study)
        if lock is None:
            yield wire.BUSY
            return
        ended = threading.Event()
        try:
            if context.add_callback(ended.set):  # False: the call has ended already
                yield wire.GRANTED
                while not ended.wait(HOLD_CHECK) and context.is_active():
                    pass
        finally:
            self._give_back(study, lock)

    def _take(self, study: str) -> ClaimLock | None:
        with self._mutex:
            if study in self._claimed:  # held by a worker here: no need to ask the database
                return None
            self._claimed.add(study)
        reconnect = getattr(self.storage, "reconnect", None)
        lock, taken = claim_lock(self.url, study, self.storage.engine, reconnect), False
        try:
            taken = lock.try_acquire()
        finally:
            if not taken:
                with self._mutex:
                    self._claimed.discard(study)
        return lock if taken else None

    def _give_back(self, study: str, lock: ClaimLock) -> None:
        try:
            lock.release()
        finally:
            with self._mutex:
                self._claimed.discard(study)

    def heartbeat(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        self.storage.record_heartbeat(int(wire.decode(request)["trial_id"]))
        return wire.encode({})

    def stale_trial_ids(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        message: dict[str, Any] = wire.decode(request)
        view = self._with_grace(int(message["grace_period"]))
        return wire.encode({"trial_ids": view._get_stale_trial_ids(int(message["study_id"]))})

    def _with_grace(self, grace: int) -> RDBStorage:
        """The storage, as RDBStorage's stale-trial query wants it: with the grace period of
        the asking worker's study (it reads it from the storage; one proxy serves studies with
        their own). A shallow view: same engine, sessions and retries; no connection of its own."""
        with self._mutex:
            view = self._views.get(grace)
            if view is None:
                view = object.__new__(type(self.storage))
                view.__dict__.update(vars(self.storage), heartbeat_interval=grace)
                view.grace_period = grace
                self._views[grace] = view
            return view
