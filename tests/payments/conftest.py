"""Fixtures for payments: a fake Stripe on loopback, the app configured to use it, and a shop to sell from."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest
from payments.stripe_shop import WEBHOOK_SECRET, Shop

from cashout_server.domain.delivery.worker import DeliveryWorker
from cashout_server.plugins import PluginRegistry
from cashout_server.runtime import Runtime
from cashout_server.settings import Settings, StripeSettings
from cashout_server.testing.fake_stripe import FakeStripe


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def registry(registry_with_scripted: PluginRegistry) -> PluginRegistry:
    return registry_with_scripted


@pytest.fixture
def settings(settings: Settings, fake_stripe: FakeStripe) -> Settings:
    stripe = StripeSettings(secret_key=fake_stripe.api_key, api_base=fake_stripe.url, webhook_secret=WEBHOOK_SECRET)
    return dataclasses.replace(settings, stripe=stripe)


@pytest.fixture
def shop(api: httpx.AsyncClient, runtime: Runtime, fake_stripe: FakeStripe, worker: DeliveryWorker) -> Shop:
    return Shop(api=api, runtime=runtime, fake=fake_stripe, worker=worker)
