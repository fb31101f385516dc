"""Errors in plain words for people (dashboard and command line): API field paths become the
labels a form shows ("filterCriteria.groups[1].value" → "Condition 2, value"), and a few library
messages are rephrased. The API keeps its own field names; only what people read changes. Pure."""

from __future__ import annotations

import re

LABELS = {
    "name": "Name",
    "subject": "Subject",
    "previewText": "Preview text",
    "from": "From address",
    "from.email": "From address",
    "from.name": "From name",
    "replyTo": "Reply-to address",
    "templateId": "Template",
    "htmlTemplate": "HTML",
    "emailTemplate": "HTML",
    "plainTextTemplate": "Plain text",
    "templateName": "Template name",
    "toLists": "Send to",
    "excludeLists": "Exclude",
    "scheduledAt": "Date and time",
    "timezone": "Time zone",
    "email": "Email",
    "password": "Password",
    "firstName": "First name",
    "lastName": "Last name",
    "userId": "User ID",
    "mobile": "Mobile",
    "url": "URL",
    "events": "Events",
    "domain": "Domain",
    "to": "To",
    "to.email": "To",
    "listId": "List",
    "filterCriteria": "Conditions",
    "filterCriteria.groups": "Conditions",
    "filterCriteria.logicalOperator": "Match",
    "description": "Description",
    "type": "Type",
    "templateType": "Type",
    "fromSenderId": "From",
    "confirm_password": "New password again",
    "emails": "Address",
    "contacts": "Contact",
    "dailyBatchSize": "Daily batch size",
    "gradualStrategy": "Gradual strategy",
    "sendMode": "Send mode",
    "expiresAt": "Expiry",
    "expires_days": "Expiry",
    "group": "Group",
    "steps": "Steps",
    "entryCriteria": "Trigger",
    "entryCriteria.type": "Trigger",
    "entryCriteria.contactListId": "List or segment",
    "entryCriteria.eventName": "Event",
    "unsubscribeGroupId": "Unsubscribe group id",
}
ITEM_LABELS = {"steps": "Step"}  # one item of a list, where the list's label is a plural
CONDITION_PARTS = {"field": "field", "fieldType": "type", "operator": "operator", "value": "value"}
_CONDITION = re.compile(r"^filterCriteria\.groups\[(\d+)\](?:\.(\w+))?$")
_CUSTOM = re.compile(r"^customFields\.(.+)$")
_ITEM = re.compile(r"^(\w+)\[(\d+)\](?:\.([\w.]+))?$")
_BRANCH = re.compile(r"^steps\[(\d+)\]\.branches\[(\d+)\](?:\.(.+))?$")
_GROUP_PART = re.compile(r"filterCriteria(\.groups(\[\d+\])?)?")
DATE_WORDS = "a date such as 2026-12-31, or a date and time such as 2026-12-31T09:00"
# (library wording, ours, whether ours replaces the whole message)
REPHRASED = (
    (
        "special-use or reserved name",
        "this domain is reserved for examples, tests or private networks and cannot receive mail",
        True,
    ),
    ("It must have exactly one @-sign.", "an email address needs exactly one @", True),
    ("Invalid email format: ", "", False),
    ("; use POST /contacts/email to upsert", "", False),
    ("must be an ISO 8601 date or date-time string", f"must be {DATE_WORDS}", False),
    ("must be an ISO 8601 date or date-time", f"must be {DATE_WORDS}", False),
    (" is a reserved contact field", " is reserved by the API; choose another name", False),
    (
        "eventName is required for an event_trigger automation",
        "Choose the event that starts this automation",
        True,
    ),
    ("Automation name is required", "Give the automation a name", True),
)
WHOLE = {"Invalid email format": "not a valid email address"}


def label_of(field: str) -> str:
    """The words a form uses for an API field path."""
    if field in LABELS:
        return LABELS[field]
    condition = _CONDITION.match(field)
    if condition:
        part = CONDITION_PARTS.get(condition[2] or "", condition[2] or "")
        return f"Condition {int(condition[1]) + 1}" + (f", {part}" if part else "")
    custom = _CUSTOM.match(field)
    if custom:
        return f"Property “{custom[1]}”"
    branch = _BRANCH.match(field)
    if branch:
        within = f", {_words(_GROUP_PART.sub('condition', branch[3]))}" if branch[3] else ""
        return f"Step {int(branch[1]) + 1}, branch {int(branch[2]) + 1}{within}"
    item = _ITEM.match(field)
    if item:
        within = f", {_words(item[3])}" if item[3] else ""
        return f"{ITEM_LABELS.get(item[1], LABELS.get(item[1], item[1]))} {int(item[2]) + 1}{within}"
    return field


def _words(path: str) -> str:
    """ "email.senderEmail" → "email sender email"."""
    return re.sub(r"(?<=[a-z])([A-Z])", r" \1", path.replace(".", " ")).lower()


def rephrase(message: str) -> str:
    """A library's wording in plain words."""
    if message in WHOLE:
        return WHOLE[message]
    for raw, words, whole in REPHRASED:
        if raw in message:
            message = words if whole else message.replace(raw, words)
    return message


def human_line(field: str, message: str) -> str:
    """One problem as a sentence: "Name must be at most 200 characters", "Condition 2, value: must be a number"."""
    message = rephrase(message.strip())
    if not field:
        return message
    label = label_of(field)
    if message.startswith(field + " "):
        return label + message[len(field) :]
    return f"{label}: {message}"


def human_lines(details: list) -> list[str]:
    """AutoSend's [{field, message}] details as sentences."""
    return [
        human_line(str(d.get("field") or ""), str(d.get("message") or ""))
        for d in details
        if isinstance(d, dict)
    ]


# Status codes the API returns in capitals, as a person reads them.
STATUS_WORDS = {
    "PENDING_CONFIGURATION": "waiting for its DNS records",
    "PENDING": "some records found, not all",
    "VERIFIED": "verified",
    "PROCESSED": "processed",
    "PROCESSING": "processing",
    "FAILED": "failed",
}


def status_words(code: str | None) -> str:
    """PENDING_CONFIGURATION → "waiting for its DNS records"; any other CODE_NAME → "code name"."""
    if not code:
        return ""
    return STATUS_WORDS.get(code) or code.replace("_", " ").lower()


# What starts an automation (its entryCriteria.type), as a person reads it.
TRIGGER_WORDS = {
    "contact_created": "a contact is created",
    "contact_added_to_list": "a contact is added to a list",
    "contact_property_matches_with": "a contact's property matches",
    "contact_property_changes_from_to": "a contact's property changes",
    "event_trigger": "an event is sent",
}


def trigger_words(kind: str | None) -> str:
    """contact_created → "a contact is created"; an unknown kind is shown with spaces."""
    return TRIGGER_WORDS.get(kind or "") or (kind or "").replace("_", " ")


# Segment operators as the builder reads them.
OPERATOR_WORDS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "greater_than": "is more than",
    "less_than": "is less than",
    "between": "is between",
    "before": "is before",
    "after": "is after",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
}
