"""What can become of a message (its fate), as typed records, and the pure rules of each fate: the
`message_events` row it leaves, the suppression it asks for and the email.* webhooks it raises.

services/feedback.record writes these records, and nothing else writes a message's outcome.

| record       | fate         | ledger row            | event          | suppression        | webhooks                |
|--------------|--------------|-----------------------|----------------|--------------------|-------------------------|
| Sent         | sent         | sending → sent        | -              | -                  | email.sent, .delivered  |
| Deferred     | deferred     | sending → deferred    | -              | -                  | email.deferred          |
| Failed       | failed       | sending → failed      | -              | -                  | -                       |
| Bounced smtp | bounced      | sending → failed      | bounced        | BOUNCE (global)    | email.bounced           |
| Bounced hard | bounced      | sent → bounced        | bounced        | BOUNCE (global)    | email.bounced           |
| Bounced soft | bounced      | -                     | soft_bounced   | BOUNCE after limit | email.bounced           |
| Complained   | complained   | -                     | complained     | COMPLAINT (global) | email.spam_reported     |
| Opened       | opened       | -                     | opened         | -                  | email.opened (human)    |
| Clicked      | clicked      | -                     | clicked        | -                  | email.clicked           |
| Unsubscribed | unsubscribed | -                     | unsubscribed   | UNSUBSCRIBE (group)| email.(group_)unsubscribed |
| Resubscribed | resubscribed | -                     | resubscribed   | (lifted by caller) | email.group_resubscribed |

A bounce (hard, reported after sending) or a complaint recorded once for a row is not recorded
again (a DSN delivered twice counts once); bounces and complaints of campaign mail are followed by
the auto-pause check. A bounce at SMTP time is only ever hard (a 4xx is a deferral).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, NamedTuple

from sendhouse.domain import bounces as rules
from sendhouse.domain.emails import key_of
from sendhouse.domain.times import iso
from sendhouse.domain.tokens import UnsubscribeTarget


class Fate(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"


class Source(StrEnum):
    """Where a bounce or complaint came from."""

    SMTP = "smtp"  # the relay refused the recipient while we were sending
    DSN = "dsn"  # a delivery status notification at the row's VERP return path
    ARF = "arf"  # a feedback-loop (RFC 5965) report
    HTTP = "http"  # POST /v1/inbound/bounce


class BounceKind(StrEnum):
    HARD = rules.HARD
    SOFT = rules.SOFT


Webhook = tuple[str, dict[str, Any]]  # (email.* event, its extra data fields)


@dataclass(frozen=True)
class FateRecord(ABC):
    """One message's fate. Subclasses say what the fate leaves behind. `row`: the message's ledger
    row; only an unsubscribe may come without one (its row is gone), every MessageFate has it."""

    fate: ClassVar[Fate]
    suppress_reason: ClassVar[str | None] = None
    row: dict | None

    @property
    @abstractmethod
    def project_id(self) -> str: ...

    @property
    def event_type(self) -> str | None:
        """The `message_events` type this fate records (None: the ledger row says it all)."""
        return None

    @property
    def event_row(self) -> dict | None:
        """The ledger row its `message_events` row goes on (None: it leaves none)."""
        return None

    @property
    @abstractmethod
    def event_email(self) -> str: ...

    def detail(self) -> dict | None:
        return None

    def webhooks(self) -> tuple[Webhook, ...]:
        return ()

    @property
    def repeat_key(self) -> tuple[str, str] | None:
        """(ledger row id, event type) shared by a repeat that records nothing (None: none does)."""
        return None

    @property
    def pause_check(self) -> bool:
        """Whether the campaign's auto-pause thresholds are checked after it."""
        return False

    @property
    def at(self) -> datetime | None:
        """When it happened, when not at the time of recording."""
        return None

    @property
    def event_url(self) -> str | None:
        return None

    @property
    def is_automated(self) -> bool:
        return False

    def suppression(self) -> Suppression | None:
        """The entry this fate asks for (a soft bounce: only once the address has enough of them)."""
        return None


@dataclass(frozen=True)
class MessageFate(FateRecord):
    """A fate of a ledger row that exists (every fate but an unsubscribe)."""

    row: dict

    @property
    def project_id(self) -> str:
        return self.row["project_id"]

    @property
    def event_row(self) -> dict | None:
        return self.row if self.event_type is not None else None

    @property
    def event_email(self) -> str:
        return self.row["email"]

    @property
    def recorded_once(self) -> bool:
        """Whether a repeat for the same row records nothing."""
        return False

    @property
    def repeat_key(self) -> tuple[str, str] | None:
        event = self.event_type
        return (self.row["id"], event) if self.recorded_once and event is not None else None

    def suppression(self) -> Suppression | None:
        if self.suppress_reason is None:
            return None
        return Suppression(
            self.row["project_id"], self.row["email"], self.suppress_reason, None, self.row["id"]
        )


class Suppression(NamedTuple):
    project_id: str
    email: str
    reason: str
    group_code: str | None  # None: the project's global group
    source_message_id: str | None


@dataclass(frozen=True)
class Sent(MessageFate):
    fate: ClassVar[Fate] = Fate.SENT
    response: str = ""

    def webhooks(self) -> tuple[Webhook, ...]:
        return ("email.sent", {}), ("email.delivered", {})


@dataclass(frozen=True)
class Deferred(MessageFate):
    fate: ClassVar[Fate] = Fate.DEFERRED
    error: str = ""
    retry_at: datetime | None = None

    def webhooks(self) -> tuple[Webhook, ...]:
        return (
            (
                "email.deferred",
                {
                    "delayType": delay_type(self.error),
                    "delayReason": self.error,
                    "expirationTime": iso(self.retry_at),
                },
            ),
        )


@dataclass(frozen=True)
class Failed(MessageFate):
    """Never to be retried, and not a refusal of the recipient (a message we could not build, or
    retries exhausted)."""

    fate: ClassVar[Fate] = Fate.FAILED
    error: str = ""
    response: str = ""


@dataclass(frozen=True)
class Bounced(MessageFate):
    fate: ClassVar[Fate] = Fate.BOUNCED
    suppress_reason: ClassVar[str | None] = "BOUNCE"
    kind: BounceKind = BounceKind.HARD
    source: Source = Source.DSN
    reason: str = ""
    status: str | None = None
    sub_type: str = "General"
    code: int | None = None  # the relay's reply code (source smtp)
    response: str = ""  # the relay's reply text (source smtp)

    @classmethod
    def at_smtp(cls, row: dict, code: int | None, response: str) -> Bounced:
        """A 5xx answer of the relay to this recipient."""
        return cls(
            row,
            kind=BounceKind.HARD,
            source=Source.SMTP,
            code=code,
            response=response,
            reason=f"{code} {response}".strip()[: rules.MAX_REASON],
            status=rules._status(response),
            sub_type=rules.sub_type(rules._status(response), True),
        )

    @classmethod
    def reported(cls, row: dict, report: rules.Feedback, source: Source) -> Bounced:
        """A hard or soft bounce reported after sending (DSN, HTTP)."""
        return cls(
            row,
            kind=BounceKind(report.kind),
            source=source,
            reason=report.reason,
            status=report.status,
            sub_type=report.sub_type,
        )

    @property
    def event_email(self) -> str:
        return key_of(self.row["email"]) if self.source == Source.SMTP else self.row["email"]

    @property
    def bounce_type(self) -> str:
        return "Permanent" if self.kind == BounceKind.HARD else "Transient"

    @property
    def event_type(self) -> str:
        return "bounced" if self.kind == BounceKind.HARD else "soft_bounced"

    def detail(self) -> dict:
        if self.source == Source.SMTP:
            return {
                "bounceType": "hard",
                "source": "smtp",
                "code": self.code,
                "response": self.response[:1000],
                "email": self.row["email"],
            }
        return {
            "bounceType": str(self.kind),
            "status": self.status,
            "reason": self.reason,
            "subType": self.sub_type,
            "source": str(self.source),
            "email": self.row["email"],
        }

    def webhooks(self) -> tuple[Webhook, ...]:
        return (
            (
                "email.bounced",
                {"bounceType": self.bounce_type, "bounceSubType": self.sub_type, "reason": self.reason},
            ),
        )

    @property
    def recorded_once(self) -> bool:
        return self.kind == BounceKind.HARD and self.source != Source.SMTP

    @property
    def pause_check(self) -> bool:
        return True


@dataclass(frozen=True)
class Complained(MessageFate):
    fate: ClassVar[Fate] = Fate.COMPLAINED
    suppress_reason: ClassVar[str | None] = "COMPLAINT"
    source: Source = Source.ARF
    complaint_type: str = "other"
    reason: str = ""
    status: str | None = None
    sub_type: str = "abuse"

    @classmethod
    def reported(cls, row: dict, report: rules.Feedback, source: Source) -> Complained:
        return cls(
            row,
            source=source,
            complaint_type=report.complaint_type or "other",
            reason=report.reason,
            status=report.status,
            sub_type=report.sub_type,
        )

    @property
    def event_type(self) -> str:
        return "complained"

    def detail(self) -> dict:
        return {
            "bounceType": rules.COMPLAINT,
            "status": self.status,
            "reason": self.reason,
            "subType": self.sub_type,
            "source": str(self.source),
            "email": self.row["email"],
            "complaintType": self.complaint_type,
        }

    def webhooks(self) -> tuple[Webhook, ...]:
        return (("email.spam_reported", {"complaintType": self.complaint_type}),)

    @property
    def recorded_once(self) -> bool:
        return True

    @property
    def pause_check(self) -> bool:
        return True


@dataclass(frozen=True)
class Opened(MessageFate):
    fate: ClassVar[Fate] = Fate.OPENED
    when: datetime | None = None
    automated: bool = False  # within the automated-open window of sending (a scanner, a proxy)

    @property
    def event_type(self) -> str:
        return "opened"

    def webhooks(self) -> tuple[Webhook, ...]:
        return () if self.automated else (("email.opened", {}),)

    @property
    def is_automated(self) -> bool:
        return self.automated

    @property
    def at(self) -> datetime | None:
        return self.when


@dataclass(frozen=True)
class Clicked(MessageFate):
    fate: ClassVar[Fate] = Fate.CLICKED
    when: datetime | None = None
    url: str = ""

    @property
    def event_type(self) -> str:
        return "clicked"

    def webhooks(self) -> tuple[Webhook, ...]:
        return (("email.clicked", {"clickedUrl": self.url}),)

    @property
    def event_url(self) -> str | None:
        return self.url

    @property
    def at(self) -> datetime | None:
        return self.when


@dataclass(frozen=True)
class Unsubscribed(FateRecord):
    """The recipient left a suppression group through a message (link, one-click, mailto, preference
    page). `row`: the message's ledger row, None when it is gone; `group`: the suppression group."""

    fate: ClassVar[Fate] = Fate.UNSUBSCRIBED
    suppress_reason: ClassVar[str | None] = "UNSUBSCRIBE"
    target: UnsubscribeTarget
    group: dict

    @property
    def project_id(self) -> str:
        return self.target.project_id

    @property
    def event_type(self) -> str:
        return str(self.fate)

    @property
    def event_row(self) -> dict | None:
        """The ledger row when it exists and is this address's."""
        if self.row is not None and key_of(self.row["email"]) == key_of(self.target.email):
            return self.row
        return None

    @property
    def event_email(self) -> str:
        """The row's address as it was sent (the token's when the row is gone: then no event)."""
        return self.row["email"] if self.row is not None else self.target.email

    def detail(self) -> dict:
        return {"groupId": self.group["group_code"], "isGlobal": bool(self.group["is_global"])}

    def webhooks(self) -> tuple[Webhook, ...]:
        event = "email.unsubscribed" if self.group["is_global"] else "email.group_unsubscribed"
        return ((event, {"unsubscribeGroupId": self.group["group_code"]}),)

    def suppression(self) -> Suppression | None:
        return Suppression(
            self.target.project_id,
            self.target.email,
            "UNSUBSCRIBE",
            self.group["group_code"],
            self.target.message_id,
        )


@dataclass(frozen=True)
class Resubscribed(Unsubscribed):
    """The recipient came back to a group from the preference page (the caller lifted the entry)."""

    fate: ClassVar[Fate] = Fate.RESUBSCRIBED
    suppress_reason: ClassVar[str | None] = None

    def webhooks(self) -> tuple[Webhook, ...]:
        return (("email.group_resubscribed", {"unsubscribeGroupId": self.group["group_code"]}),)

    def suppression(self) -> Suppression | None:
        return None


def delay_type(error: str) -> str:
    """AutoSend's delayType from the relay's reply."""
    if "4.2.2" in error or "452" in error[:4]:
        return "MailboxFull"
    if error[:1] == "4":
        return "TransientCommunicationFailure"
    return "InternalFailure"
