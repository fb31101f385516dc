"""The starter templates a project can begin from (a newsletter and a welcome mail): their
settings here, their HTML in templates/starters/ (plain email HTML with AutoSend's placeholders,
not rendered by the dashboard)."""

from __future__ import annotations

from pathlib import Path

from sendhouse.errors import NotFound

FOLDER = Path(__file__).resolve().parent.parent / "templates" / "starters"
STARTERS = {
    "newsletter": {
        "templateName": "Monthly newsletter",
        "subject": "What’s new this month",
        "previewText": "A short round-up of our news",
        "templateType": "marketing",
        "description": "A headline story with a button, three shorter items and a footer with unsubscribe links",
    },
    "welcome": {
        "templateName": "Welcome",
        "subject": 'Welcome aboard, {{firstName | "friend"}}',
        "previewText": "Three steps for your first week",
        "templateType": "marketing",
        "description": "A greeting by first name, three first steps and one button",
    },
}


def starter(key: str) -> dict:
    """A starter's template fields, its HTML included."""
    if key not in STARTERS:
        raise NotFound("No such starter template")
    return {**STARTERS[key], "emailTemplate": (FOLDER / f"{key}.html").read_text(encoding="utf-8")}
