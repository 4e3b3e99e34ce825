"""The worker's side of a storage proxy (`storage: grpc://HOST:PORT`, served by
`optuna-run storage-proxy`): Optuna's GrpcStorageProxy on one gRPC connection that also
carries the study's claim lock and the trials' heartbeats, which the proxy takes and records
in the database on the worker's behalf (why and how: proxy.py).

Over `grpcs://` the channel is TLS, with the client certificate and bearer token that
proxy_security.py reads from the environment; a proxy that refuses this worker (untrusted
certificate, no or wrong credentials) is one line at start, never a wait.

Every call rides out a proxy that restarts as a database restart is ridden out (reconnect.py,
`workers.storage_retry_seconds`); any other failure of a call is one StoreError, not a
traceback.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import optuna
from optuna.storages import BaseStorage, GrpcStorageProxy
from optuna.storages._grpc.auto_generated import api_pb2_grpc
from optuna.storages._grpc.client import GrpcClientCache
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial

from fashion_models.config.stores import grpc_address, is_tls_grpc
from fashion_models.errors import StoreError
from fashion_models.search import proxy_protocol as wire
from fashion_models.search import proxy_security as security
from fashion_models.search.reconnect import Reconnect, first_line

T = TypeVar("T")
WAIT_SECONDS = 10.0  # how long a worker that starts waits for its proxy to answer
ASK_PAUSE = 0.25  # seconds between asks while no proxy listens yet
FIRST_PAUSE, LONGEST_PAUSE = 0.02, 0.5  # seconds between tries of a busy claim lock
StaleTrialCallback = Callable[[optuna.Study, FrozenTrial], None]


class ProxyStorage(GrpcStorageProxy, BaseHeartbeat):
    """Optuna's storage proxy client, with heartbeats (recorded by the proxy) and the
    study's claim lock (`claim_lock`)."""

    reconnect: Reconnect | None = None  # set once the proxy has answered

    def __init__(
        self,
        url: str,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        heartbeat_stale_trial_callback: StaleTrialCallback | None = None,
    ):
        # The heartbeat arguments are RDBStorage's, by name: build_storage passes the same.
        self.url = url
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.stale_trial_callback = heartbeat_stale_trial_callback
        host, port = grpc_address(url)
        super().__init__(host=host, port=port)

    def _setup(self) -> None:
        # Optuna 5.0's own set-up, on a channel with keepalive, a short reconnect backoff and
        # TLS for grpcs://; the coordinator's calls share its one connection (a dead worker's
        # claim goes with it).
        address = wire.target(self._host, self._port)
        self._channel = security.client_channel(self.url, address, wire.CHANNEL_OPTIONS)
        self._stub = api_pb2_grpc.StorageServiceStub(self._channel)
        self._cache = GrpcClientCache(self._stub)
        self._hello = self._channel.unary_unary(wire.method(wire.HELLO))
        self._claim = self._channel.unary_stream(wire.method(wire.CLAIM))
        self._heartbeat = self._channel.unary_unary(wire.method(wire.HEARTBEAT))
        self._stale = self._channel.unary_unary(wire.method(wire.STALE))

    def wait_ready(self, seconds: float = WAIT_SECONDS) -> None:
        """Wait up to `seconds` for the proxy to answer; StoreError if none does, if what
        answers is not `optuna-run storage-proxy`, or at once if it refuses this worker."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                remaining = max(deadline - time.monotonic(), 0.1)
                answer = wire.decode(self._hello(wire.encode({}), timeout=remaining))
                break
            except grpc.RpcError as exc:
                refusal = self._refusal(exc)
                if refusal is not None:
                    raise StoreError(refusal) from exc
                if time.monotonic() + ASK_PAUSE >= deadline:
                    raise StoreError(
                        f"no storage proxy answers at {self.url} (waited {seconds:g}s): start "
                        "one there with `optuna-run storage-proxy --storage URL --port "
                        f"{self._port}`, or fix the study's storage (or OPTUNA_STORAGE)"
                    ) from exc
                time.sleep(ASK_PAUSE)
        if answer.get("protocol") != wire.PROTOCOL:
            raise StoreError(
                f"the storage proxy at {self.url} speaks protocol {answer.get('protocol')}, "
                f"this worker {wire.PROTOCOL}: run the same version of fashion-models on both"
            )

    def _refusal(self, exc: grpc.RpcError) -> str | None:
        """What keeps this worker out, as one line; None while the proxy may only be not up yet
        (nothing listens: asked again until the wait is over)."""
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = (exc.details() if isinstance(exc, grpc.Call) else None) or ""
        where = f"the storage proxy at {self.url}"
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return (
                f"{where} has no claim lock or heartbeats (Optuna's own run_grpc_proxy_server?): "
                "run `optuna-run storage-proxy` there instead"
            )
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return (
                f"{where} refused this worker: {details} (expected the proxy's token in "
                f"${security.TOKEN} or ${security.TOKEN}_FILE)"
            )
        if code != grpc.StatusCode.UNAVAILABLE:
            return None
        if "CERTIFICATE_VERIFY_FAILED" in details or "peer name" in details.lower():
            return (
                f"{where} was refused by this worker: its certificate is not one the CA in "
                f"${security.CA_FILE} (or the system's CAs) signed for that host"
            )
        if "WRONG_VERSION_NUMBER" in details or "handshake" in details.lower():
            return f"{where} does not speak TLS: expected grpc:// for a plaintext proxy"
        if "Socket closed" in details:
            if not is_tls_grpc(self.url):
                return f"{where} closed the connection: if it serves TLS, expected grpcs://"
            if not security.has_client_certificate():
                return (
                    f"{where} closed the TLS connection: it may require a client certificate "
                    f"(expected ${security.CLIENT_CERT_FILE} and ${security.CLIENT_KEY_FILE})"
                )
            return (
                f"{where} closed the TLS connection: its --client-ca did not sign the "
                f"certificate in ${security.CLIENT_CERT_FILE}"
            )
        return None

    def call(self, action: Callable[[], T]) -> T:
        """`action` (a call to the proxy), retried while the proxy cannot be reached; any
        other failure is one StoreError."""
        try:
            return self.reconnect.call(action) if self.reconnect is not None else action()
        except grpc.RpcError as exc:
            raise StoreError(f"the storage proxy at {self.url} failed: {first_line(exc)}") from exc

    def claim_lock(self, study_name: str) -> ProxyClaimLock:
        """The study's claim lock (claims.py), taken by the proxy for this worker."""
        return ProxyClaimLock(self, study_name)

    def open_claim(self, request: bytes) -> Any:
        """The claim stream: GRANTED (held until the stream is cancelled) or BUSY."""
        return self._claim(request)

    # BaseHeartbeat: recorded and read by the proxy, in the database it holds.

    def record_heartbeat(self, trial_id: int) -> None:
        # The heartbeat thread's call: a proxy found lost is left to the trial's own thread to
        # report (a thread's traceback is no message), as ReconnectingRDBStorage does.
        with contextlib.suppress(StoreError):
            self.call(lambda: self._heartbeat(wire.encode({"trial_id": trial_id})))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        interval = self.heartbeat_interval or 0
        request = {"study_id": study_id, "grace_period": self.grace_period or 2 * interval}
        answer = self.call(lambda: self._stale(wire.encode(request)))
        return [int(i) for i in wire.decode(answer)["trial_ids"]]

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> StaleTrialCallback | None:
        return self.stale_trial_callback


class ProxyClaimLock:
    """The study's claim lock, held by the proxy for this worker while the worker keeps a
    Claim stream open: released when the worker cancels it, or when the worker's process or
    connection dies. Waiting happens here (the proxy answers BUSY at once), so a crowd of
    waiting workers never ties up the proxy's threads."""

    def __init__(self, storage: ProxyStorage, study_name: str):
        self.storage = storage
        self.request = wire.encode({"study": study_name})
        self._stream: Any = None

    def acquire(self) -> None:
        pause = FIRST_PAUSE
        while not self.try_acquire():
            time.sleep(pause * (0.5 + random.random()))  # jitter: waiters do not ask in step
            pause = min(pause * 2, LONGEST_PAUSE)

    def try_acquire(self) -> bool:
        self._stream = self.storage.call(self._ask)
        return self._stream is not None

    def _ask(self) -> Any:
        stream = self.storage.open_claim(self.request)
        try:
            answer = next(stream, wire.BUSY)
        except BaseException:
            stream.cancel()
            raise
        if answer == wire.GRANTED:
            return stream
        stream.cancel()
        return None

    def release(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.cancel()


def _proxied(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: ProxyStorage, *args: Any, **kwargs: Any) -> Any:
        return self.call(lambda: method(self, *args, **kwargs))

    return call


# Optuna's storage calls (BaseStorage's public ones), each retried whole and its failure made
# one line; ours go through `call` already.
for _name in sorted(vars(BaseStorage)):
    if not _name.startswith("_") and _name not in vars(ProxyStorage):
        setattr(ProxyStorage, _name, _proxied(getattr(GrpcStorageProxy, _name)))
