"""Generate ``docs/plugins.md`` (the plugin author guide) from the hook specs' docstrings.

``make docs`` writes it; a test fails when the file and the docstrings disagree, so the guide
can never drift from the contract.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import msgspec

from cashout_server import contract, hookspecs

GUIDE_INTRO = """\
# Writing a cashout plugin

A cashout plugin teaches the server one or more platforms: how to publish a listing there, fetch
buyer messages, read numbers, look prices up or run ads. Plugins are ordinary Python
distributions found through the `cashout` entry-point group; the built-in plugins in `plugins/`
are installed exactly like yours.

> This file is generated from `cashout_server/hookspecs.py` by `make docs`. Edit the docstrings,
> not this file.

## 1. The package

```
cashout-myplatform/
  pyproject.toml
  cashout_myplatform/__init__.py
  tests/test_myplatform.py
```

```toml
[project]
name = "cashout-myplatform"
dependencies = ["cashout", "httpx"]

[project.entry-points.cashout]
myplatform = "cashout_myplatform"
```

`pip install cashout-myplatform` (or `pip install -e .` while developing) and restart the server:
`cashout plugins list` and `GET /api/v1/plugins` show it. `CASHOUT_PLUGINS=a,b` limits which
plugins load; `CASHOUT_TRACE_PLUGINS=1` logs every hook call with its outcome and duration.

## 2. The code

Import only from `cashout_server` (and `cashout_server.testing` in tests). Everything else in the
server is internal and may change; a test in cashout's own suite enforces this for built-in
plugins.

```python
from cashout_server import (
    Capability, ConfigField, PlatformDescriptor, Published, Rejected,
    TransientError, OutcomeUnknown, hookimpl,
)

@hookimpl
def platforms():
    return [PlatformDescriptor(
        name="myplatform", display_name="My Platform",
        capabilities=frozenset({Capability.PUBLISH}),
        credential_fields=(ConfigField(name="api_key", label="API key", secret=True),),
        default_base_url="https://api.myplatform.example",
    )]

@hookimpl
async def publish(ctx, listing):
    try:
        r = await ctx.http.post("/listings", json={"title": listing.item.title},
                                headers={"Idempotency-Key": listing.idempotency_key})
    except httpx.ConnectError as exc:          # never sent: safe to retry
        raise TransientError(str(exc)) from exc
    except httpx.TimeoutException as exc:      # may have been applied
        raise OutcomeUnknown(str(exc)) from exc
    if r.status_code == 422:
        return Rejected(reason=r.json()["message"])
    return Published(external_id=r.json()["id"], url=r.json()["url"])
```

Rules the core relies on:

* Use `ctx.http` with relative URLs. Its base URL is the connection's `base_url` setting or your
  descriptor's `default_base_url`, so tests (and proxies) point the same code at a fake.
* Return the contract's outcomes and raise only the contract's errors (below). Anything else is
  treated as a crash, and a crash in a write hook is treated as "outcome unknown".
* Never log or return credentials. `ctx.connection.credentials` is decrypted for your call only.
* Keep cursors and "already sent" markers in `ctx.state`; it survives restarts.
* Declare every secret field `secret=True`: the core encrypts it at rest and never shows it again.

## 3. Testing

`cashout_server.testing` gives you `make_context()` (a real `PluginContext` pointed at your fake
server), `sample_listing()` (a realistic listing with real JPEG files) and the conformance suite:

```python
import pytest
from cashout_server.testing import ConformanceSuite, ConformanceTarget

class TestMyPlatformConforms(ConformanceSuite):
    @pytest.fixture
    def target(self, fake_server_url):
        import cashout_myplatform
        return ConformanceTarget(plugin=cashout_myplatform, platform="myplatform",
                                 base_url=fake_server_url, credentials={"api_key": "test"})
```

Installing cashout also registers pytest fixtures (no import needed): `cashout_context`
(a `make_context` factory sharing the test's `cashout_state`) and `cashout_listing` (a
`sample_listing` factory writing its photos into the test's temporary folder).

The suite checks descriptors, declared capabilities backed by hooks, typed outcomes, idempotent
retries, limits, and that an unreachable platform raises a contract error. Write your fake as a
real HTTP server on 127.0.0.1 that answers with the platform's documented payloads, errors and
rate-limit headers; see `plugins/craigslist/tests/` for a complete example.

## 4. Publishing

Build and upload like any package (`python -m build`, `twine upload`). Name it `cashout-<platform>`
so people can find it.
"""


def _type_name(tp: object) -> str:
    text = inspect.formatannotation(tp)
    return text.replace("cashout_server.contract.", "")


def hook_names() -> list[str]:
    """Every hook spec, in the order of ``hookspecs.py``."""
    specs = [
        (name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "cashout_spec")
    ]
    return [name for name, fn in sorted(specs, key=lambda pair: inspect.getsourcelines(pair[1])[1])]


def render_hooks() -> str:
    """The hook reference section."""
    parts = ["## 5. Hook reference\n"]
    for name in hook_names():
        fn = getattr(hookspecs, name)
        sig = inspect.signature(fn)
        prefix = "async def" if inspect.iscoroutinefunction(fn) else "def"
        params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
        parts.append(f"### `{name}`\n")
        parts.append(f"```python\n@hookimpl\n{prefix} {name}({params}) -> {sig.return_annotation}\n```\n")
        parts.append(inspect.cleandoc(fn.__doc__ or "") + "\n")
    return "\n".join(parts)


def render_types() -> str:
    """The contract types section: every struct's fields, every error."""
    parts = ["## 6. Types and errors\n"]
    for name in contract.__all__:
        obj = getattr(contract, name)
        if not isinstance(obj, type):
            continue
        doc = inspect.cleandoc(obj.__doc__ or "").split("\n\n")[0]
        parts.append(f"### `{name}`\n\n{doc}\n")
        if issubclass(obj, msgspec.Struct):
            rows = ["| field | type | default |", "|---|---|---|"]
            hints = obj.__annotations__
            defaults = (
                dict(zip(obj.__struct_fields__[-len(obj.__struct_defaults__) :], obj.__struct_defaults__, strict=True))
                if obj.__struct_defaults__
                else {}
            )
            for field in obj.__struct_fields__:
                default = defaults.get(field, "required")
                shown = "required" if default == "required" else f"`{default!r}`"
                cells = [f"`{field}`", f"`{hints.get(field, '')}`", shown]
                rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
            parts.append("\n".join(rows) + "\n")
        elif issubclass(obj, BaseException):
            parts.append(f"Raise as `{name}(message)`; base class `{obj.__mro__[1].__name__}`.\n")
        elif issubclass(obj, str):
            values = ", ".join(f"`{v}`" for v in obj.__members__.values())  # type: ignore[attr-defined]
            parts.append(f"Values: {values}.\n")
    return "\n".join(parts)


def render() -> str:
    """The whole guide."""
    return GUIDE_INTRO + "\n" + render_hooks() + "\n" + render_types()


def render_configuration() -> str:
    """``docs/configuration.md``: every setting, from the settings classes' field docstrings."""
    from cashout_server.settings import SECTIONS

    lines = [
        "# Configuration",
        "",
        "Generated from `cashout_server/settings.py` by `make docs`.",
        "",
        "Environment variables win over the TOML file (`$CASHOUT_CONFIG`, or `cashout.toml` in the data",
        "folder), which wins over the defaults. In the file, use the table and field names shown.",
        "",
    ]
    for cls in SECTIONS:
        lines += [f"## `[{cls.table}]`: {inspect.cleandoc(cls.__doc__ or '')}", ""]
        lines += ["| variable | TOML key | default | meaning |", "|---|---|---|---|"]
        for name, info in cls.model_fields.items():
            shown = "(unset)" if info.default is None else f"`{info.default}`"
            cells = [f"`{cls.env_name(name)}`", f"`{name}`", shown, info.description or ""]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Write the plugin guide and the configuration reference into the folder given (default ``docs``)."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugins.md").write_text(render(), encoding="utf-8")
    (folder / "configuration.md").write_text(render_configuration(), encoding="utf-8")
    print(f"wrote {folder}/plugins.md and {folder}/configuration.md")


if __name__ == "__main__":
    main()
