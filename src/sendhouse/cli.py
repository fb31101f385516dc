"""The `sendhouse` command line (typer): serve, worker, migrate, projects, keys, and more.

Commands parse their arguments, build the container, call a service and print. No logic here.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sendhouse.bootstrap import build_container
from sendhouse.config import Settings, listening_url
from sendhouse.domain import wording
from sendhouse.domain.times import utcnow
from sendhouse.errors import AppError
from sendhouse.observability import configure_logging
from sendhouse.services import api_keys as key_service
from sendhouse.services import lists as list_service
from sendhouse.services import projects as project_service
from sendhouse.services import smtp_keys
from sendhouse.store.migrate import upgrade_to_head

app = typer.Typer(
    help="Sendhouse: self-hosted email campaigns, compatible with the AutoSend API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: flags show no `<bool>` metavar
)
projects_app = typer.Typer(help="Manage projects.", no_args_is_help=True, rich_markup_mode=None)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
console = Console()
err_console = Console(stderr=True)


def run_service(coro_factory):
    """Run an async call against a fresh container; print AppErrors plainly and exit 1."""

    async def _go():
        container = build_container(Settings())
        try:
            return await coro_factory(container)
        finally:
            await container.close()

    try:
        return asyncio.run(_go())
    except AppError as exc:
        lines = wording.human_lines(exc.details) if isinstance(exc.details, list) else []
        err_console.print("[red]error:[/red] ", end="")
        err_console.print("; ".join(lines) or exc.message, markup=False, highlight=False)
        raise typer.Exit(1) from None


@app.command()
def migrate() -> None:
    """Bring the database to the newest schema."""
    settings = Settings()
    upgrade_to_head(settings.resolved_database_url())
    console.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="the HTTP side only; delivery runs in `sendhouse worker`")
    ] = False,
) -> None:
    """Supervise the HTTP processes (API, dashboard, tracking, MCP) and (unless --no-worker) the delivery workers."""
    from sendhouse.roles import COMMANDS, preload
    from sendhouse.supervisor import Supervisor, listen, plan

    preload()
    given = Settings()
    settings = given.for_listener(host, port)
    os.environ["SENDHOUSE_PUBLIC_URL"] = settings.public_url  # the children started from here agree
    container = build_container(settings)  # migrates SQLite, once, before any child starts
    asyncio.run(_first_start(container))
    try:
        sock = listen(host, port)
    except OSError as exc:
        err_console.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror}")
        raise typer.Exit(1) from None
    _print_addresses(settings, host, port, derived=not given.public_url_is_explicit())
    configure_logging(role="supervisor")
    children = plan(settings, COMMANDS["serve --no-worker" if no_worker else "serve"])
    raise typer.Exit(Supervisor(children, sock).run())


async def _first_start(container) -> None:
    """On an empty database: create project `default` and a dashboard login and print them, once."""
    from sendhouse.services import users as user_service

    try:
        first = await project_service.ensure_first_run(container.db)
        login = await user_service.ensure_first_user(container.db)
    finally:
        await container.close()
    if first:
        project, key = first
        console.print(f"Created project [bold]{project['name']}[/bold] ({project['id']}).")
        console.print("Its API key (shown once, keep it):")
        console.print(key, markup=False, highlight=False)
    if login:
        user, password = login
        console.print("Dashboard login (shown once, keep it):")
        console.print(f"  email:    {user['email']}", markup=False, highlight=False)
        console.print(f"  password: {password}", markup=False, highlight=False)


def _print_addresses(settings: Settings, host: str, port: int, *, derived: bool) -> None:
    """Where the server listens, the dashboard's address, and the public URL with its origin."""
    here = listening_url(host, port)
    console.print(
        f"Sendhouse listening on {here} · dashboard: {here}/app/",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    origin = (
        "from --host/--port; set SENDHOUSE_PUBLIC_URL if people reach this server at another address"
        if derived
        else "from SENDHOUSE_PUBLIC_URL"
    )
    console.print(
        f"Public URL for tracking and unsubscribe links: {settings.public_url} ({origin})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def worker(
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="leave out the scheduler duty (another process runs it)")
    ] = False,
) -> None:
    """Run the delivery side until stopped: delivery, housekeeping, scheduler (one leader) and webhook dispatch."""
    from sendhouse.roles import COMMANDS, run_duties

    configure_logging(role="worker")
    container = build_container(Settings())
    skip = ("scheduler",) if no_scheduler else ()
    raise typer.Exit(asyncio.run(run_duties(container, COMMANDS["worker"], skip=skip)))


@projects_app.command("create")
def projects_create(name: str) -> None:
    """Create a project and print its id."""
    row = run_service(lambda c: project_service.create_named_project(c.db, name=name))
    console.print(row["id"], markup=False, highlight=False)


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option(help="project name or id")],
    account: Annotated[
        bool, typer.Option("--account", help="an account key (ASA_…) instead of a project key")
    ] = False,
    smtp: Annotated[bool, typer.Option("--smtp", help="an SMTP submission key (the AUTH password)")] = False,
    name: Annotated[str, typer.Option(help="a label for the key")] = "",
    expires_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="the key expires after this many days")
    ] = None,
) -> None:
    """Create an API key (or an SMTP key with --smtp); the key alone is the last line of output."""

    async def _create(c):
        row = await project_service.resolve_project(c.db, project)
        if smtp:
            return await smtp_keys.create_key(c.db, project_id=row["id"], name=name)
        expires = utcnow() + timedelta(days=expires_days) if expires_days else None
        return await project_service.create_api_key(
            c.db, project_id=row["id"], account=account, name=name, expires_at=expires
        )

    _, secret = run_service(_create)
    err_console.print("The key is shown once; keep it.")
    print(secret)


@keys_app.command("list")
def keys_list(
    project: Annotated[str | None, typer.Option(help="only the keys this project (name or id) sees")] = None,
) -> None:
    """List API keys (never their secrets), one a line, tab-separated: id, kind, project, name, prefix,
    created, expires, last used, state."""
    found = run_service(lambda c: key_service.list_all_keys(c.db, project))
    print("id\tkind\tproject\tname\tprefix\tcreated\texpires\tlast used\tstate")
    for k in found:
        print(
            "\t".join(
                (
                    k["id"],
                    k["kind"],
                    k["projectId"] or "-",
                    k["name"] or "-",
                    k["prefix"],
                    k["createdAt"],
                    k["expiresAt"] or "never",
                    k["lastUsedAt"] or "never",
                    k["state"],
                )
            )
        )


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its id (see `keys list`); requests with it are refused from now on."""
    key = run_service(lambda c: key_service.revoke(c.db, key_id))
    console.print(f"revoked {key['id']} ({key['kind']} key {key['prefix']}…)", markup=False, highlight=False)


contacts_app = typer.Typer(help="Manage contacts.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(contacts_app, name="contacts")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file with a header row")],
    list_name: Annotated[
        str | None, typer.Option("--list", help="also add every imported contact to this list (name or id)")
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="project name or id (default: the only or `default` one)")
    ] = None,
) -> None:
    """Import contacts from a CSV (email, firstName, lastName, userId, mobile, property columns); upserts by email.
    Exits 1 when rows were skipped (each is listed with its line and reason)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sendhouse.services import imports

    total = max(file.read_bytes().count(b"\n") - 1, 1)
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())

    async def _import(c):
        row = await imports.resolve_project(c.db, project)
        list_id = (await list_service.resolve_list(c.db, row["id"], list_name))["id"] if list_name else None
        with (
            file.open(newline="", encoding="utf-8-sig") as handle,
            Progress(*columns, console=err_console) as bar,
        ):
            task = bar.add_task("import", total=total)
            header, rows = imports.csv_rows(handle)
            return await imports.import_rows(
                c.db,
                row["id"],
                header,
                rows,
                list_id=list_id,
                on_progress=lambda done: bar.update(task, completed=min(done, total)),
            )

    report = run_service(_import)
    for line, message in report.errors[:50]:
        err_console.print(f"line {line}: {message}", markup=False, highlight=False)
    if report.failed > 50:
        err_console.print(f"... and {report.failed - 50} more bad rows")
    for line, first in report.repeats[:50]:
        err_console.print(
            f"line {line}: same email as line {first}, merged into that contact", highlight=False
        )
    if report.ignored_columns:
        err_console.print(f"ignored columns: {', '.join(report.ignored_columns)}", markup=False)
    console.print(
        f"{report.rows} rows read, {report.imported} contacts imported, {report.failed} rows skipped"
    )
    if report.failed:
        raise typer.Exit(1)


@app.command("lists")
def lists_list(
    project: Annotated[
        str | None, typer.Option(help="project name or id (default: the only or `default` one)")
    ] = None,
) -> None:
    """List the project's contact lists and segments, one a line, tab-separated: id, type, contacts, name."""
    from sendhouse.services import imports

    async def _lists(c):
        row = await imports.resolve_project(c.db, project)
        return await list_service.list_lists(c.db, row["id"], None)

    print("id\ttype\tcontacts\tname")
    for found in run_service(_lists):
        print(f"{found['id']}\t{found['type']}\t{found.get('contactCount', '-')}\t{found['name']}")


@app.command("mcp")
def mcp_stdio(
    project: Annotated[
        str, typer.Option(help="project name or id the MCP tools act on")
    ] = project_service.DEFAULT_PROJECT,
) -> None:
    """Serve MCP (for AI assistants) over stdin/stdout, acting on one project. Logs go to stderr."""
    from sendhouse.mcp_tools.server import run_stdio

    try:
        asyncio.run(run_stdio(Settings(), project))
    except AppError as exc:
        lines = wording.human_lines(exc.details) if isinstance(exc.details, list) else []
        err_console.print("[red]error:[/red] ", end="")
        err_console.print("; ".join(lines) or exc.message, markup=False, highlight=False)
        raise typer.Exit(1) from None


users_app = typer.Typer(help="Manage dashboard users.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(users_app, name="users")


@users_app.command("create")
def users_create(
    email: str,
    project: Annotated[str | None, typer.Option(help="project name or id the user joins")] = None,
    password: Annotated[
        str | None, typer.Option(help="the password (default: a generated one, printed once)")
    ] = None,
) -> None:
    """Create a dashboard user; a generated password is printed once as the last line."""
    from sendhouse.services import users as user_service

    async def _create(c):
        project_id = (await project_service.resolve_project(c.db, project))["id"] if project else None
        return await user_service.create_user(c.db, email, password=password, project_id=project_id)

    user, secret = run_service(_create)
    err_console.print(f"Created user {user['email']} ({user['id']}).", markup=False, highlight=False)
    if password is None:
        err_console.print("Its password is shown once; keep it.")
        print(secret)


@users_app.command("reset-password")
def users_reset_password(
    email: str,
    password: Annotated[
        str | None, typer.Option(help="the new password (default: a generated one, printed once)")
    ] = None,
) -> None:
    """Set a dashboard user's password and end their sessions (the way back in for a lost password)."""
    from sendhouse.services import users as user_service

    user, secret = run_service(lambda c: user_service.reset_password(c.db, email, password))
    err_console.print(f"New password set for {user['email']}; their sessions are ended.", markup=False)
    if password is None:
        err_console.print("It is shown once; keep it.")
        print(secret)


@app.command()
def doctor() -> None:
    """Check the database, the SMTP relay, the DNS records of every domain and the public URL."""
    from sendhouse.services.doctor import run_all

    checks = asyncio.run(run_all(Settings()))
    for check in checks:
        mark = "[green]ok[/green]     " if check.ok else "[red]PROBLEM[/red]"
        console.print(f"{mark} {check.name}: ", end="")
        console.print(check.detail, markup=False, highlight=False)
    problems = sum(not check.ok for check in checks)
    if problems:
        err_console.print(f"{problems} problem(s) found")
        raise typer.Exit(1)
    console.print("everything answers")


def main() -> None:
    app()
