"""What a worker and the storage proxy say to each other beyond Optuna's own storage service:
the `fashion_models.Coordinator` service's methods, their JSON messages, and the connection
settings of both ends (see proxy.py for why the service exists)."""

from __future__ import annotations

import json
from typing import Any

SERVICE = "fashion_models.Coordinator"
HELLO = "Hello"  # unary: {} -> {"protocol": PROTOCOL}; a proxy that lacks it is Optuna's bare one
CLAIM = "Claim"  # unary-stream: {"study"} -> GRANTED, then open while held; or BUSY, then ends
HEARTBEAT = "RecordHeartbeat"  # unary: {"trial_id"} -> {}
STALE = "StaleTrialIds"  # unary: {"study_id", "grace_period"} -> {"trial_ids": [...]}
PROTOCOL = 1
GRANTED, BUSY = b'"granted"', b'"busy"'

# Keepalive: the proxy pings every worker's connection; one that does not answer within
# 10 s (a worker's host gone, no TCP reset) is closed, and the claim it held is released.
# Workers ping the proxy too, so a call to a vanished proxy fails instead of hanging.
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.so_reuseport", 0),  # a second proxy on a port in use fails instead of sharing it
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),  # the workers' pings
    ("grpc.http2.max_ping_strikes", 0),
]
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", -1),  # as Optuna's channel: a study's trials add up
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # A proxy that restarts is found again within seconds (gRPC's backoff grows to 120 s).
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]


def method(name: str) -> str:
    return f"/{SERVICE}/{name}"


def encode(message: Any) -> bytes:
    return json.dumps(message).encode()


def decode(data: bytes) -> Any:
    return json.loads(data)


def target(host: str, port: int) -> str:
    """gRPC's address form: an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
