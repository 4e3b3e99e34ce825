"""Who may use the storage proxy: TLS and authentication, at both ends.

The proxy (`optuna-run storage-proxy --tls-cert FILE --tls-key FILE`) serves TLS; workers
name it `grpcs://HOST:PORT` and verify it against the CA in $OPTUNA_PROXY_CA_FILE (the
system's CAs without it). A worker proves who it is in either or both ways:

- mTLS: the proxy started with `--client-ca FILE` accepts only connections whose client
  certificate that CA signed; a worker presents $OPTUNA_PROXY_CLIENT_CERT_FILE and
  $OPTUNA_PROXY_CLIENT_KEY_FILE.
- A bearer token: the proxy started with $OPTUNA_PROXY_TOKEN (or _FILE) refuses every call
  without it (TokenCheck, a server interceptor, on Optuna's storage service and the
  coordinator alike); a worker sends the same variable's token with every call, as gRPC's
  access-token call credentials do.

A token never crosses a plaintext connection: both ends refuse a token without TLS. Secrets
come from the environment or a file (config/secrets.read_secret), never from argv.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from fashion_models.config.secrets import read_secret
from fashion_models.config.stores import is_tls_grpc
from fashion_models.errors import ArgumentError, UserError

TOKEN = "OPTUNA_PROXY_TOKEN"  # both ends; or OPTUNA_PROXY_TOKEN_FILE
CA_FILE = "OPTUNA_PROXY_CA_FILE"  # the worker's: the CA that signed the proxy's certificate
CLIENT_CERT_FILE = "OPTUNA_PROXY_CLIENT_CERT_FILE"  # the worker's certificate, for mTLS
CLIENT_KEY_FILE = "OPTUNA_PROXY_CLIENT_KEY_FILE"  # and its key
NO_TOKEN = "this call carries no bearer token"
WRONG_TOKEN = "this call's bearer token is wrong"


@dataclass(frozen=True)
class ServerSecurity:
    """What the proxy demands: TLS (its certificate and key), client certificates signed by
    `client_ca`, a bearer token. All None: a plaintext proxy, open to whoever reaches it."""

    cert: bytes | None = None
    key: bytes | None = None
    client_ca: bytes | None = None
    token: str | None = None

    def credentials(self) -> grpc.ServerCredentials | None:
        if self.cert is None or self.key is None:
            return None
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )

    def interceptors(self) -> list[grpc.ServerInterceptor]:
        return [TokenCheck(self.token)] if self.token is not None else []

    def describe(self) -> str:
        """For the proxy's first line: what a worker needs to get in."""
        if self.cert is None:
            return "plaintext, no authentication: serve a private network only"
        needs = ["TLS"]
        if self.client_ca is not None:
            needs.append("client certificates")
        if self.token is not None:
            needs.append("a bearer token")
        return " + ".join(needs)


def server_security(
    cert: Path | None,
    key: Path | None,
    client_ca: Path | None,
    environ: Mapping[str, str] | None = None,
) -> ServerSecurity:
    """The proxy's security from its options and $OPTUNA_PROXY_TOKEN(_FILE); ArgumentError for
    a half-given pair, a file that is no PEM, or a token or client CA without TLS."""
    if (cert is None) != (key is None):
        raise ArgumentError("--tls-cert and --tls-key go together: expected both or neither")
    token = read_secret(TOKEN, environ)
    if cert is None:
        if client_ca is not None:
            raise ArgumentError("--client-ca needs TLS: expected --tls-cert and --tls-key too")
        if token is not None:
            raise ArgumentError(
                f"${TOKEN} is set but the proxy has no TLS: a token must not cross the network "
                "in clear; expected --tls-cert and --tls-key too"
            )
        return ServerSecurity()
    assert key is not None
    return ServerSecurity(
        cert=_pem(cert, "--tls-cert", "CERTIFICATE"),
        key=_pem(key, "--tls-key", "PRIVATE KEY"),
        client_ca=_pem(client_ca, "--client-ca", "CERTIFICATE") if client_ca else None,
        token=token,
    )


def client_channel(url: str, address: str, options: list[tuple[str, Any]]) -> grpc.Channel:
    """The worker's channel to the proxy at `url`: plaintext for grpc://, TLS verified against
    $OPTUNA_PROXY_CA_FILE for grpcs://, with the client certificate and the token when set."""
    token = read_secret(TOKEN)
    if not is_tls_grpc(url):
        if token is not None:
            raise UserError(
                f"${TOKEN} is set but the storage {url} is plaintext: a token must not cross "
                "the network in clear; expected grpcs://"
            )
        return grpc.insecure_channel(address, options=options)
    ca = _env_pem(CA_FILE, "CERTIFICATE")
    cert = _env_pem(CLIENT_CERT_FILE, "CERTIFICATE")
    key = _env_pem(CLIENT_KEY_FILE, "PRIVATE KEY")
    if (cert is None) != (key is None):
        raise UserError(
            f"${CLIENT_CERT_FILE} and ${CLIENT_KEY_FILE} go together: expected both or neither"
        )
    credentials = grpc.ssl_channel_credentials(ca, key, cert)
    if token is not None:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return grpc.secure_channel(address, credentials, options=options)


def has_client_certificate() -> bool:
    return bool(os.environ.get(CLIENT_CERT_FILE))


class TokenCheck(grpc.ServerInterceptor):
    """Refuses (UNAUTHENTICATED, saying why) every call whose `authorization` metadata is not
    `Bearer TOKEN`; compared in constant time."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        given = dict(details.invocation_metadata or ()).get("authorization")
        if handler is None or (
            isinstance(given, str) and hmac.compare_digest(given.encode(), self._expected)
        ):
            return handler
        return _refusal(handler, NO_TOKEN if given is None else WRONG_TOKEN)


def _refusal(handler: grpc.RpcMethodHandler, reason: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that aborts with UNAUTHENTICATED."""

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)

    def refuse_stream(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, reason)
        yield  # a generator, as a streaming method's behaviour is

    if handler.response_streaming:
        make = (
            grpc.stream_stream_rpc_method_handler
            if handler.request_streaming
            else grpc.unary_stream_rpc_method_handler
        )
        return make(refuse_stream, handler.request_deserializer, handler.response_serializer)
    make = (
        grpc.stream_unary_rpc_method_handler
        if handler.request_streaming
        else grpc.unary_unary_rpc_method_handler
    )
    return make(refuse, handler.request_deserializer, handler.response_serializer)


def _pem(path: Path, option: str, kind: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArgumentError(f"{option}: cannot read {path}: {exc.strerror}") from None
    # "CERTIFICATE-----", and "PRIVATE KEY-----" of PKCS#8, EC and RSA keys alike.
    if f"{kind}-----".encode() not in data:
        raise ArgumentError(f"{option}: {path} holds no PEM {kind.lower()}: expected one")
    return data


def _env_pem(name: str, kind: str) -> bytes | None:
    file = os.environ.get(name)
    return _pem(Path(file), f"${name}", kind) if file else None
