"""Alerts that reach people: the webhook and e-mail, each alert sent once to each of its targets.

`deliver` sends every alert fired in the last `WINDOW` that has not yet reached one of its
targets: the webhook (one POST for all of them, `spendlake.webhook`) and e-mail (one message per
alert to its recipients: the budget's `alert_emails`, else `$SPENDLAKE_ALERT_EMAILS`). It runs
under the lake's notify lock (`_notify_lock`), and every attempt is appended to
`deliveries.jsonl` under it, so however many schedulers and `spendlake check` runs go at once,
an alert reaches each target once. A target that failed is tried again by the next check, up to
`ATTEMPTS` times.

SMTP comes from the environment: `SPENDLAKE_SMTP_HOST`, `SPENDLAKE_SMTP_PORT` (587),
`SPENDLAKE_SMTP_SECURITY` (starttls, ssl or none; starttls), `SPENDLAKE_SMTP_USER`,
`SPENDLAKE_SMTP_PASSWORD` (read from the environment only, never stored or printed),
`SPENDLAKE_SMTP_FROM` (spendlake@<host>).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage

from analytics.alerts import Alert
from ingest.files import flocked, read_lines
from ingest.lake import DELIVERIES, NOTIFY_LOCK, Lake
from spendlake.store import append_lines, load_alerts, load_budgets

log = logging.getLogger(__name__)
WINDOW = dt.timedelta(days=1)  # alerts older than this are not sent any more (a new channel gets no backlog)
ATTEMPTS = 5  # tries a target gets for one alert, one per check


@dataclass(frozen=True)
class Email:
    host: str
    port: int = 587
    security: str = "starttls"
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    sender: str = "spendlake@localhost"
    default_to: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Email | None:
        """The SMTP settings of the environment (None without `SPENDLAKE_SMTP_HOST`)."""
        host = env.get("SPENDLAKE_SMTP_HOST")
        if not host:
            return None
        security = env.get("SPENDLAKE_SMTP_SECURITY", "starttls")
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"SPENDLAKE_SMTP_SECURITY={security!r}: starttls, ssl or none")
        port = env.get("SPENDLAKE_SMTP_PORT", "465" if security == "ssl" else "587")
        if not port.isdigit():
            raise ValueError(f"SPENDLAKE_SMTP_PORT={port!r}: a port number")
        to = tuple(a.strip() for a in env.get("SPENDLAKE_ALERT_EMAILS", "").split(",") if a.strip())
        return cls(host, int(port), security, env.get("SPENDLAKE_SMTP_USER"), env.get("SPENDLAKE_SMTP_PASSWORD"),
                   env.get("SPENDLAKE_SMTP_FROM", f"spendlake@{host}"), to)

    def send(self, alert: Alert, to: Sequence[str]) -> None:
        message = EmailMessage()
        message["Subject"] = f"Spendlake {alert.kind.replace('_', ' ')}: {alert.subject}"
        message["From"], message["To"] = self.sender, ", ".join(to)
        message.set_content(text(alert))
        context = ssl.create_default_context()
        smtp = smtplib.SMTP_SSL(self.host, self.port, context=context, timeout=30) if self.security == "ssl" \
            else smtplib.SMTP(self.host, self.port, timeout=30)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


def text(alert: Alert) -> str:
    """An alert's e-mail body: the message, then each figure on a line of its own."""
    figures = [("Spent", alert.spent_usd), ("Limit", alert.limit_usd), ("Forecast for the period", alert.forecast_usd)]
    lines = [alert.message, ""]
    lines += [f"{name}: ${value:,.2f}" for name, value in figures if value is not None]
    if alert.threshold is not None:
        lines.append(f"Threshold: {alert.threshold:.0%}")
    lines += [f"Period from: {alert.period_start}", f"Fired: {alert.fired_at}"]
    return "\n".join(lines) + "\n"


@dataclass
class Delivered:
    sent: dict[str, int] = field(default_factory=dict)  # target → alerts it got now
    failed: list[str] = field(default_factory=list)  # "target: why"


def deliver(lake: Lake, *, webhook: str | None = None, email: Email | None = None,
            now: dt.datetime | None = None) -> Delivered:
    """Send what has not reached its targets yet (see the module); returns what was sent now."""
    from spendlake.webhook import WebhookError, post
    now = now or dt.datetime.now(dt.UTC)
    result = Delivered()
    if webhook is None and email is None:
        return result
    with _notifying(lake):
        alerts = [a for a in load_alerts(lake) if now - dt.datetime.fromisoformat(a.fired_at) <= WINDOW]
        if not alerts:
            return result
        done, tries = _history(lake)
        records = []

        def due(alert: Alert, target: str) -> bool:
            return (_key(alert), target) not in done and tries.get((_key(alert), target), 0) < ATTEMPTS

        if webhook is not None:
            target = f"webhook {_redacted(webhook)}"
            pending = [a for a in alerts if due(a, target)]
            if pending:
                try:
                    post(webhook, pending)
                    error = None
                except WebhookError as e:
                    error = str(e).replace(webhook, _redacted(webhook))
                records += [_record(a, target, error, now) for a in pending]
                _count(result, target, len(pending), error)
        if email is not None:
            recipients = {b.name: b.alert_emails for b in load_budgets(lake)}
            for alert in alerts:
                to = recipients.get(alert.subject) or email.default_to
                target = f"email {', '.join(to)}"
                if not to or not due(alert, target):
                    continue
                try:
                    email.send(alert, to)
                    error = None
                except (OSError, smtplib.SMTPException) as e:
                    error = f"{type(e).__name__}: {e}"
                records.append(_record(alert, target, error, now))
                _count(result, target, 1, error)
        append_lines(lake, DELIVERIES, records)
    return result


def _count(result: Delivered, target: str, n: int, error: str | None) -> None:
    if error is None:
        result.sent[target] = result.sent.get(target, 0) + n
    else:
        result.failed.append(f"{target}: {error}")
        log.warning("could not send %d alert(s) to %s (%s); tried again at the next check", n, target, error)


def _key(alert: Alert) -> str:
    return json.dumps(list(alert.key))


def _record(alert: Alert, target: str, error: str | None, now: dt.datetime) -> dict:
    return {"alert": _key(alert), "target": target, "at": now.isoformat(), "sent": error is None, "error": error}


def _history(lake: Lake) -> tuple[set[tuple[str, str]], dict[tuple[str, str], int]]:
    """(alert, target) pairs sent, and the failed attempts of each pair."""
    done: set[tuple[str, str]] = set()
    tries: dict[tuple[str, str], int] = {}
    for r in read_lines(lake.path(DELIVERIES)):
        pair = (r.get("alert"), r.get("target"))
        if r.get("sent"):
            done.add(pair)
        else:
            tries[pair] = tries.get(pair, 0) + 1
    return done, tries


def _redacted(url: str) -> str:
    """A webhook's address without its secret path (Slack's hooks carry their token in it)."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") else url


@contextlib.contextmanager
def _notifying(lake: Lake) -> Iterator[None]:
    with flocked(lake.path(NOTIFY_LOCK)):
        yield
