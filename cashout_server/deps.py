"""Dependency annotations for route handlers (Litestar wants injected names marked explicitly)."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from cashout_server.runtime import Runtime

RuntimeDep = NamedDependency[Runtime]
"""The shared :class:`~cashout_server.runtime.Runtime`."""

Db = NamedDependency[AsyncSession]
"""A database session for this request (the handler commits)."""
