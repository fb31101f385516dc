"""What the dashboard's browser tests share: a live `sendhouse serve` on a database of the kind
under test, Debian's chromium through Playwright, screenshots at desktop (1280×800) and phone
(390×844) width kept in test-artifacts/screenshots/ (each name ends with the database kind, so a
PostgreSQL run keeps the SQLite run's pictures), and the vendored axe-core check."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.conftest import _truncate_postgres

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect
CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")

SENDHOUSE = str(Path(sys.executable).parent / "sendhouse")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_ZONE = "Europe/Paris"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")
FIRST_LINES = 40  # the first start prints its key and login among these
KEPT_LINES = 2000
_BROWSER_DB_KINDS: dict[object, str] = {}  # each running browser's database kind, for screenshot names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(db_url: str, data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env.update(
        {
            "SENDHOUSE_DATABASE_URL": db_url,
            "SENDHOUSE_DATA_DIR": str(data_dir),
            "SENDHOUSE_SEND_NOW_DELAY": "1",
            "SENDHOUSE_SECRET_KEY": "browser-test-secret",
            **extra,
        }
    )
    return env


def _drain(proc: subprocess.Popen, lines: deque[str]) -> None:
    """Read the server's output as it comes (a full pipe would stop the server), keeping the last lines."""
    for line in proc.stdout:
        lines.append(line)


def _first_start(proc: subprocess.Popen, lines: deque[str]) -> dict[str, str]:
    """The API key, dashboard email and password the first start prints."""
    found: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(found) < 3 and proc.poll() is None:
        for line in list(lines)[:FIRST_LINES]:
            match = re.match(r"\s*(email|password):\s+(\S+)", line) or re.match(r"(key)?(AS_\S+)\s*$", line)
            if match:
                found[match[1] or "key"] = match[2]
        time.sleep(0.05)
    assert len(found) == 3, f"the first start did not print a key and a dashboard login: {sorted(found)}"
    return found


def db_kind_of(db_url: str) -> str:
    return "postgres" if db_url.startswith("postgresql") else "sqlite"


def module_database(request, tmp: Path) -> str:
    """The URL of a fresh database of the fixture's kind (request.param) for a module's server: a
    copy of the migrated SQLite template in `tmp`, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), tmp / "sendhouse.db")
        return f"sqlite:///{tmp / 'sendhouse.db'}"
    db_url = request.getfixturevalue("postgres_database")
    _truncate_postgres(db_url)
    return db_url


@contextmanager
def serving(db_url: str, tmp: Path, **extra: str):
    """`sendhouse serve` on a free port: {url, email, password, key, tmp, kind (of database)};
    stopped on exit (its last output printed)."""
    port = free_port()
    env = _env(db_url, tmp / "data", {f"SENDHOUSE_{k.upper()}": v for k, v in extra.items()})
    proc = subprocess.Popen(
        [SENDHOUSE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: deque[str] = deque(maxlen=KEPT_LINES)
    reader = threading.Thread(target=_drain, args=(proc, lines), daemon=True)
    reader.start()
    try:
        found = _first_start(proc, lines)
        yield {"url": f"http://127.0.0.1:{port}", **found, "tmp": tmp, "kind": db_kind_of(db_url)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=5)
        print("".join(lines)[-3000:])


@contextmanager
def chromium(db_kind: str):
    """Debian's chromium, headless; the screenshots of its pages are named for `db_kind`."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        _BROWSER_DB_KINDS[browser] = db_kind
        try:
            yield browser
        finally:
            _BROWSER_DB_KINDS.pop(browser, None)
            browser.close()


def new_tab(browser):
    tab = browser.new_page(viewport=DESKTOP, timezone_id=BROWSER_ZONE)
    tab.set_default_timeout(30_000)
    return tab


def shot_path(page, name: str) -> Path:
    """Where the screenshot `name` of this page goes: the name, then the database kind."""
    return SHOTS / f"{name}-{_BROWSER_DB_KINDS[page.context.browser]}.png"


def shot(page, name: str) -> None:
    page.screenshot(path=str(shot_path(page, name)), full_page=True)


def axe_problems(page) -> list[str]:
    """The page's serious and critical axe-core violations, one line each (rule, impact, where),
    once a frame has been drawn at the current size (the page's resize handlers have run)."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => done()))")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""")
    return [
        f"{v['id']} ({v['impact']}: {v['help']}) at {v['nodes']}" for v in found if v["impact"] in SERIOUS
    ]


def both_widths(page, name: str, *, axe: bool = True) -> None:
    """Screenshots at desktop and phone width; at each, no serious accessibility violation and (on
    the phone) no sideways scrolling."""
    for size, label in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page.set_viewport_size(size)
        shot(page, f"{name}-{label}")
        if axe:
            assert axe_problems(page) == [], (name, label)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    page.set_viewport_size(DESKTOP)


NEXT_TO = "(el, id) => !!el.nextElementSibling && el.nextElementSibling.id === id"


def points_at(field, words: str) -> None:
    """A refused form's message in `words` stands next to the field: the field is marked invalid and
    described by the element right after it, and the summary alert at the top says it too."""
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(words)))
    message_id = (field.get_attribute("aria-describedby") or "").split()[0]
    expect(field.page.locator(f"#{message_id}")).to_contain_text(words)
    assert field.evaluate(NEXT_TO, message_id), message_id
    expect(field.page.get_by_role("alert")).to_contain_text(words)


def api_call(server, method: str, path: str, body: dict) -> dict:
    """A call of the server's API (/v1) with the key its first start printed; the response's data."""
    answer = httpx2.request(
        method,
        f"{server['url']}/v1{path}",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {server['key']}"},
    )
    assert answer.status_code < 300, answer.text
    return answer.json()["data"]


def wait_until_server(page, url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            page.goto(url + "/app/login")
            return
        except playwright_sync.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def log_in(page, server) -> None:
    wait_until_server(page, server["url"])
    page.get_by_label("Email").fill(server["email"])
    page.get_by_label("Password").fill(server["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
