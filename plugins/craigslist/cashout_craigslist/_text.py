"""Craigslist's own text limits (the fitting itself is the plugin surface's ``fit_title``)."""

from __future__ import annotations

TITLE_MAX = 70
"""Craigslist's posting title limit, in characters."""
