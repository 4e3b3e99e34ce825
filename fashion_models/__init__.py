"""fashion-models: Optuna studies of Keras classifiers on Fashion-MNIST, tracked in MLflow."""

from __future__ import annotations

# Before anything can import TensorFlow: psycopg's libpq and the OpenSSL bundled with it bind
# their symbols when they are loaded (Python loads with RTLD_NOW), and TensorFlow, once
# loaded, exports BoringSSL's functions process-wide under OpenSSL's names. Loaded after it,
# libpq's OpenSSL calls half into BoringSSL, and the first TLS connection to PostgreSQL
# (sslmode=require or verify-full) aborts the process (`free(): invalid pointer`).
# tests/deploy/test_secure_deployment.py runs workers that connect so.
import psycopg  # noqa: F401

__version__ = "0.1.0"
