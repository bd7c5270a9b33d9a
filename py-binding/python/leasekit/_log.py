"""One log record per lease transition, on the standard ``logging`` logger ``leasekit``.

Operators grep for who took which resource when; log pipelines index the structured fields.
Each transition record carries them in ``extra`` (``event``, ``scope``, ``resource_id``,
``owner``, ``session_id``, ``fence``, ``actor``), so a JSON formatter can emit them as they are.

The SQLite store decides what a transition is and logs it through Rust's ``tracing``; the native
module forwards those events here (:func:`_from_native`), to the logger ``leasekit.store``.
Callers of the pure rules (the SQLAlchemy adapter) log the events of a decision with
:func:`log_events`, in the same shape. A token or digest is never among the fields.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

logger = logging.getLogger("leasekit")

_MESSAGES = {
    "acquired": "lease acquired",
    "renewed": "lease renewed by acquire",
    "taken_over": "lease taken over",
    "forced": "lease forced",
    "released": "lease released",
    "expired": "lease expired",
}
# The store's field names, and the names every leasekit log record uses.
_FIELD_NAMES = {"kind": "event", "id": "resource_id"}
# The store logs renewals under their own message, without a kind field.
_EVENT_OF_MESSAGE = {"lease renewed": "renewed"}


def _quoted(value: object) -> str:
    """A field value for the readable message: strings in JSON quotes, so an owner or session
    named ``eve fence=1`` cannot pass for another field."""
    return json.dumps(value) if isinstance(value, str) else str(value)


def _emit_transition(target: logging.Logger, level: int, extra: dict[str, Any]) -> None:
    actor = extra.setdefault("actor", None)
    target.log(
        level,
        "%s: %s/%s owner=%s session_id=%s fence=%s actor=%s",
        _MESSAGES.get(extra["event"], f"lease {extra['event']}"),
        extra.get("scope"),
        extra.get("resource_id"),
        _quoted(extra.get("owner")),
        _quoted(extra.get("session_id")),
        extra.get("fence"),
        _quoted(actor) if actor is not None else "sweeper",
        extra=extra,
    )


def log_events(
    scope: str,
    resource_id: str,
    events: Iterable[Mapping[str, Any]],
    *,
    target: logging.Logger = logger,
) -> None:
    """Logs the events of a :class:`leasekit.rules.Decision` once they are committed.

    Renewals log at DEBUG, other transitions at INFO, as the store logs its own.
    """
    for event in events:
        kind = event["kind"]
        level = logging.DEBUG if kind == "renewed" else logging.INFO
        if not target.isEnabledFor(level):
            continue
        extra = {
            "event": kind,
            "scope": scope,
            "resource_id": resource_id,
            "owner": event["owner"],
            "session_id": event["session_id"],
            "fence": event["fence"],
            "actor": event.get("actor"),
            "at_ms": event["at"],
        }
        _emit_transition(target, level, extra)


def _from_native(level: int, target: str, message: str, fields: dict[str, Any]) -> None:
    """Logs one ``tracing`` event of the Rust store (the native module calls this).

    ``leasekit::store`` becomes the logger ``leasekit.store``; fields go to ``extra`` under the
    names above, and a transition gets a message that reads on its own in a plain-text log.
    """
    target_logger = logging.getLogger(target.replace("::", "."))
    if not target_logger.isEnabledFor(level):
        return
    extra = {_FIELD_NAMES.get(name, name): value for name, value in fields.items()}
    if "event" not in extra and message in _EVENT_OF_MESSAGE:
        extra["event"] = _EVENT_OF_MESSAGE[message]
    if "event" in extra and "fence" in extra:
        _emit_transition(target_logger, level, extra)
        return
    details = " ".join(f"{name}={value}" for name, value in extra.items())
    target_logger.log(level, "%s %s", message, details, extra=extra)
