"""Shared event settings for the page's own handlers."""

from __future__ import annotations

from typing import Any

# Page-only handlers stay out of the API docs and the Python client; scripts use the named
# endpoints in components/api_endpoints.py.
PAGE_ONLY: dict[str, Any] = {"api_visibility": "private"}
