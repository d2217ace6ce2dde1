"""API errors as Kubernetes `Status` objects: code, reason and the message kubectl prints."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An error the server answers with a `Status` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(resource: str, group: str) -> str:
    """`pods` or `virtualmachines.kubevirt.io`, as error messages name a resource."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> APIError:
    return APIError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    {"name": name, "group": group, "kind": resource})


def already_exists(resource: str, group: str, name: str) -> APIError:
    return APIError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                    {"name": name, "group": group, "kind": resource})


def conflict(resource: str, group: str, name: str, why: str | None = None) -> APIError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return APIError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
                    {"name": name, "group": group, "kind": resource})


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> APIError:
    """422 Invalid; causes are (field, reason, rendered message 'field: Invalid value: ...').

    The Status message lists the rendered causes; each cause's own message leaves the field out,
    as kube-apiserver's do."""
    rendered = [c[2] for c in causes]
    qual = f"{kind}.{group}" if group else kind
    summary = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    return APIError(422, "Invalid", f'{qual} "{name}" is invalid: {summary}', {
        "name": name, "group": group, "kind": kind,
        "causes": [{"reason": reason, "message": msg[len(field) + 2:] if msg.startswith(field + ": ") else msg,
                    "field": field} for field, reason, msg in causes],
    })


def forbidden(message: str, details: dict | None = None) -> APIError:
    return APIError(403, "Forbidden", message, details)


def method_not_allowed(method: str) -> APIError:
    return APIError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unsupported_media_type(got: str, accepted: list[str]) -> APIError:
    return APIError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(accepted))


def expired(message: str) -> APIError:
    return APIError(410, "Expired", message)


def unauthorized() -> APIError:
    return APIError(401, "Unauthorized", "Unauthorized")


def too_large() -> APIError:
    return APIError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")


def page_not_found() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource", {})
