"""`python -m fashion_models.cli`: how --workers starts its worker processes."""

from __future__ import annotations

from fashion_models.cli import entry_point

entry_point()
