"""Fixtures: a real fake craigslist on loopback, and connection settings that work against it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load_fake() -> ModuleType:
    # --import-mode=importlib puts no test directory on sys.path, so load the module by path.
    name = "cashout_craigslist_tests_fake"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("fake_craigslist.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fake_craigslist = _load_fake()


@pytest.fixture
def fake_module() -> ModuleType:
    return fake_craigslist


@pytest.fixture
def fake() -> Iterator[Any]:
    server = fake_craigslist.FakeCraigslist().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def credentials(fake: Any) -> dict[str, str]:
    account = fake.accounts[0]
    return {"username": account.username, "password": account.password, "account_id": account.account_id}


@pytest.fixture
def bulk_settings() -> dict[str, str]:
    return {"area": "nyc", "category": "fee", "reply_email": "replies@example.com"}


@pytest.fixture
def assisted_settings() -> dict[str, str]:
    return {"area": "nyc", "category": "fuo"}
