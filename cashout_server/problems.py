"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

log = logging.getLogger("cashout.api")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://cashout.invalid/problems/"


class ProblemError(HTTPException):
    """An error the API reports as problem+json with a stable ``type`` slug."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail=detail, status_code=status_code, headers=headers)
        self.slug = slug or HTTPStatus(status_code).phrase.lower().replace(" ", "-")
        self.problem_extra = extra


def not_found(kind: str, public_id: str) -> ProblemError:
    """A 404 for a resource that does not exist (or is not visible)."""
    return ProblemError(404, f"no {kind} with id {public_id!r}", slug="not-found")


def conflict(detail: str, **extra: Any) -> ProblemError:
    """A 409 for a request that clashes with the resource's current state."""
    return ProblemError(409, detail, slug="conflict", **extra)


def _problem(
    request: Request[Any, Any, Any], status: int, slug: str, detail: str, headers: dict[str, str] | None, **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Render any Litestar HTTP exception (ours included) as problem+json."""
    if isinstance(exc, ProblemError):
        return _problem(request, exc.status_code, exc.slug, exc.detail, exc.headers, **exc.problem_extra)
    if isinstance(exc, ValidationException):
        errors = exc.extra if isinstance(exc.extra, list) else None
        return _problem(request, 400, "invalid-request", exc.detail or "the request is not valid", None, errors=errors)
    status = exc.status_code
    slug = HTTPStatus(status).phrase.lower().replace(" ", "-")
    detail = exc.detail or HTTPStatus(status).phrase
    return _problem(request, status, slug, detail, exc.headers)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Log an unexpected error and answer 500 without leaking its details."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _problem(request, 500, "internal-error", "an unexpected error occurred; see the server log", None)


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    HTTPException: http_exception_handler,
    Exception: internal_error_handler,
}
