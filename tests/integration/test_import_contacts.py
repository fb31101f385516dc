"""CSV contact import: the service on both databases, and `sendhouse contacts import` run through typer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sendhouse.cli import app
from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.errors import AppError, InvalidInput
from sendhouse.services import contacts as contact_service
from sendhouse.services import projects as project_service
from sendhouse.services import properties as property_service
from sendhouse.services.imports import csv_rows, import_rows
from sendhouse.store.db import Database
from sendhouse.store.schema.audience import contact_lists, contacts, list_members


async def make_project(db: Database, name: str = "default") -> str:
    project = await project_service.create_project(db, name=name)
    for prop, kind in (("age", "number"), ("vip", "boolean"), ("born", "date"), ("plan", "string")):
        await property_service.create_property(db, project["id"], name=prop, kind=kind)
    return project["id"]


async def make_list(db: Database, project_id: str, kind: str = "list") -> str:
    list_id, now = ids.new_id(), utcnow()
    async with db.write() as conn:
        await conn.execute(
            contact_lists.insert().values(
                id=list_id,
                project_id=project_id,
                name=f"l-{list_id}",
                type=kind,
                created_at=now,
                updated_at=now,
            )
        )
    return list_id


async def stored(db: Database, project_id: str) -> dict[str, dict]:
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(contacts).where(contacts.c.project_id == project_id))).mappings()
        return {r["email"]: dict(r) for r in rows}


async def run(db: Database, project_id: str, text: str, **kwargs):
    import io

    header, rows = csv_rows(io.StringIO(text))
    return await import_rows(db, project_id, header, rows, **kwargs)


CSV = (
    "Email,First Name,last_name,userId,mobile,age,VIP,born,plan,favourite colour\n"
    "Ada@Example.com,Ada,Lovelace,u1,+44 20 7946 0958,36,yes,1815-12-10,pro,green\n"
    "not-an-email,Bad,Row,,,,,,,\n"
    "bob@example.com,Bob,,u2,,,no,,,\n"
    "cy@example.com,Cy,,,,thirty,,,,\n"
    '"dee@example.com","Dee ""D""","Multi\nLine",,,,,,,\n'
    "\n"
    "eve@example.com,Eve,,,12,,,,,\n"
    "fay@example.com,Fay,,,,,,2020-02-30,,\n"
    "gus@example.com\n"
)


async def test_import_maps_columns_converts_types_and_reports_bad_rows(container):
    project_id = await make_project(container.db)
    report = await run(container.db, project_id, CSV)
    assert (report.rows, report.imported, report.failed) == (8, 4, 4)
    assert report.errors == [
        (3, "invalid email 'not-an-email'"),
        (5, "age is not a number"),
        (9, "mobile must be an E.164 phone number such as +14155550123"),
        (10, "born must be an ISO 8601 date or date-time"),
    ]
    assert report.ignored_columns == ["favourite colour"]
    found = await stored(container.db, project_id)
    assert sorted(found) == ["ada@example.com", "bob@example.com", "dee@example.com", "gus@example.com"]
    ada = found["ada@example.com"]
    assert (ada["first_name"], ada["last_name"], ada["user_id"], ada["mobile"], ada["source"]) == (
        "Ada",
        "Lovelace",
        "u1",
        "+442079460958",
        "csv",
    )
    assert ada["custom_fields"] == {"age": 36, "vip": True, "born": "1815-12-10", "plan": "pro"}
    assert found["bob@example.com"]["custom_fields"] == {"vip": False}
    assert (
        found["dee@example.com"]["first_name"] == 'Dee "D"'
        and found["dee@example.com"]["last_name"] == "Multi\nLine"
    )


async def test_reimport_updates_instead_of_duplicating(container):
    project_id = await make_project(container.db)
    await run(container.db, project_id, "email,firstName,lastName,age,plan\na@example.com,Ann,Old,30,free\n")
    before = (await stored(container.db, project_id))["a@example.com"]
    report = await run(container.db, project_id, "email,firstName,lastName,age\nA@EXAMPLE.COM,Anna,,31\n")
    assert (report.imported, report.failed) == (1, 0)
    after = await stored(container.db, project_id)
    assert list(after) == ["a@example.com"]
    row = after["a@example.com"]
    assert row["id"] == before["id"] and row["created_at"] == before["created_at"]
    assert (row["first_name"], row["last_name"]) == ("Anna", "Old")  # a blank cell keeps the stored value
    assert row["custom_fields"] == {"age": 31, "plan": "free"}  # merged
    assert row["updated_at"] >= before["updated_at"]


async def test_repeated_email_in_one_file_merges(container):
    project_id = await make_project(container.db)
    report = await run(
        container.db,
        project_id,
        "email,firstName,lastName,plan\nz@example.com,Zed,,free\nZ@example.com,,Zulu,pro\n",
    )
    assert (report.rows, report.imported) == (2, 1)
    row = (await stored(container.db, project_id))["z@example.com"]
    assert (row["first_name"], row["last_name"], row["custom_fields"]) == ("Zed", "Zulu", {"plan": "pro"})
    assert (report.merged, report.repeats) == (1, [(3, 2)])


async def test_a_repeated_email_is_reported_with_both_lines_within_and_across_chunks(container):
    project_id = await make_project(container.db)
    text = (
        "email,firstName,plan\n"
        "a@example.com,Ann,free\n"  # line 2
        "A@example.com,,pro\n"  # line 3: merged in the same chunk (a chunk holds 2 contacts)
        "b@example.com,Bea,\n"
        "bad,Bad,\n"  # a bad row is skipped, not remembered
        "c@example.com,Cy,\n"
        "b@example.com,Bee,\n"  # line 7: a later chunk than line 4, merged by the upsert
        "bad,Bad again,\n"
    )
    report = await run(container.db, project_id, text, chunk_size=2)
    assert (report.rows, report.failed, report.merged) == (7, 2, 2)
    assert report.repeats == [(3, 2), (7, 4)]
    found = await stored(container.db, project_id)
    assert sorted(found) == ["a@example.com", "b@example.com", "c@example.com"]
    assert (found["a@example.com"]["first_name"], found["a@example.com"]["custom_fields"]) == (
        "Ann",
        {"plan": "pro"},
    )
    assert found["b@example.com"]["first_name"] == "Bee"  # the later row's filled-in cell wins


async def test_import_into_a_list(container):
    project_id = await make_project(container.db)
    list_id = await make_list(container.db, project_id)
    await contact_service.upsert_contact(
        container.db, project_id, {"email": "old@example.com", "listIds": [list_id]}
    )
    await run(
        container.db, project_id, "email\nold@example.com\nnew@example.com\n", list_id=list_id, chunk_size=1
    )
    async with container.db.read() as conn:
        members = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(list_members).where(list_members.c.list_id == list_id)
            )
        ).scalar_one()
    assert members == 2


@pytest.mark.parametrize(
    "kind,code", [("segment", "CONTACT_LIST_IS_SEGMENT"), (None, "CONTACT_LIST_NOT_FOUND")]
)
async def test_import_into_a_bad_list_writes_nothing(container, kind, code):
    project_id = await make_project(container.db)
    other_project = await make_project(container.db, "other")
    list_id = await make_list(container.db, project_id if kind else other_project, kind or "list")
    with pytest.raises(AppError) as caught:
        await run(container.db, project_id, "email\na@example.com\n", list_id=list_id)
    assert caught.value.code == code
    assert await stored(container.db, project_id) == {}


@pytest.mark.parametrize("text", ["first_name\nAda\n", "", "email,Email\na@example.com,b@example.com\n"])
async def test_header_problems_are_refused(container, text):
    project_id = await make_project(container.db)
    with pytest.raises(InvalidInput):
        await run(container.db, project_id, text)
    assert await stored(container.db, project_id) == {}


async def test_an_interrupted_import_keeps_whole_chunks_only(container):
    project_id = await make_project(container.db)

    def rows():
        for i in range(250):
            if i == 230:
                raise KeyboardInterrupt
            yield i + 2, [f"u{i}@example.com", f"Name {i}"]

    with pytest.raises(KeyboardInterrupt):
        await import_rows(container.db, project_id, ["email", "firstName"], rows(), chunk_size=100)
    found = await stored(container.db, project_id)
    assert len(found) == 200 and all(row["first_name"] for row in found.values())


async def test_twenty_thousand_rows_and_reimport(container, tmp_path):
    project_id = await make_project(container.db)
    path = tmp_path / "big.csv"
    path.write_text("email,first_name,age\n" + "".join(f"p{i}@example.com,P{i},{i}\n" for i in range(20_000)))
    seen: list[int] = []
    for _ in range(2):
        with path.open(newline="") as handle:
            header, rows = csv_rows(handle)
            report = await import_rows(
                container.db, project_id, header, rows, chunk_size=5000, on_progress=seen.append
            )
        assert (report.rows, report.imported, report.failed) == (20_000, 20_000, 0)
    assert seen == [5000, 10000, 15000, 20000, 20000] * 2
    async with container.db.read() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(contacts))).scalar_one()
        sample = (
            await conn.execute(
                sa.select(contacts.c.custom_fields).where(contacts.c.email == "p19999@example.com")
            )
        ).scalar_one()
    assert count == 20_000 and sample == {"age": 19999}


# ---- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("SENDHOUSE_DATABASE_URL", db_url)
    monkeypatch.setenv("SENDHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SENDHOUSE_SECRET_KEY", "cli-test-secret")
    return db_url


def in_db(url: str, make):
    async def _go():
        db = Database(url)
        try:
            return await make(db)
        finally:
            await db.close()

    return asyncio.run(_go())


def cli(*args: str):
    return CliRunner().invoke(app, ["contacts", "import", *args])


def test_cli_imports_with_progress_and_reports_bad_rows(cli_env, tmp_path):
    project_id = in_db(cli_env, make_project)
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    result = cli(str(path))
    assert result.exit_code == 1, result.output  # rows were skipped: a script must notice
    assert "line 3: invalid email 'not-an-email'" in result.output
    assert "line 10: born must be an ISO 8601 date or date-time" in result.output
    assert "ignored columns: favourite colour" in result.output
    assert "8 rows read, 4 contacts imported, 4 rows skipped" in result.output
    again = cli(str(path))
    assert again.exit_code == 1 and "4 contacts imported" in again.output
    assert len(in_db(cli_env, lambda db: stored(db, project_id))) == 4


def test_cli_list_and_project_options(cli_env, tmp_path):
    in_db(cli_env, lambda db: make_project(db, "alpha"))
    beta = in_db(cli_env, lambda db: make_project(db, "beta"))
    list_id = in_db(cli_env, lambda db: make_list(db, beta))
    path = tmp_path / "c.csv"
    path.write_text("email\na@example.com\n")
    ambiguous = cli(str(path))
    assert ambiguous.exit_code == 1 and "--project" in ambiguous.output
    wrong_list = cli(str(path), "--project", "alpha", "--list", list_id)
    assert wrong_list.exit_code == 1 and "not found" in wrong_list.output
    result = cli(str(path), "--project", "beta", "--list", list_id)
    assert result.exit_code == 0, result.output
    found = in_db(cli_env, lambda db: contact_service.search_by_emails(db, beta, ["a@example.com"]))
    assert found[0]["listIds"] == [list_id]
    path.write_text("email\nb@example.com\n")
    by_name = cli(str(path), "--project", "beta", "--list", f"l-{list_id}")
    assert by_name.exit_code == 0, by_name.output
    found = in_db(cli_env, lambda db: contact_service.search_by_emails(db, beta, ["b@example.com"]))
    assert found[0]["listIds"] == [list_id]
    listed = CliRunner().invoke(app, ["lists", "--project", "beta"])
    assert listed.exit_code == 0 and f"{list_id}\tlist\t2\tl-{list_id}" in listed.output, listed.output


def test_cli_refuses_a_file_without_email_column(cli_env, tmp_path):
    project_id = in_db(cli_env, make_project)
    path = tmp_path / "c.csv"
    path.write_text("name\nAda\n")
    result = cli(str(path))
    assert result.exit_code == 1 and "email column" in result.output
    assert "header row read as 'name'" in result.output
    assert in_db(cli_env, lambda db: stored(db, project_id)) == {}
    path.write_text("email;name\nada@example.com;Ada\n")
    semicolons = cli(str(path))
    assert (
        semicolons.exit_code == 1
        and "'email;name'" in semicolons.output
        and "semicolons" in semicolons.output
    )
    assert cli(str(Path(tmp_path / "missing.csv"))).exit_code != 0


async def test_special_characters_survive_the_bulk_path(container):
    project_id = await make_project(container.db)
    text = (
        'email,firstName,lastName,plan\ns@example.com,"back\\slash\ttab","a\r\nb","quote "" and \\\\ and é"\n'
    )
    report = await run(container.db, project_id, text)
    assert report.failed == 0, report.errors
    row = (await stored(container.db, project_id))["s@example.com"]
    assert (row["first_name"], row["last_name"]) == ("back\\slash\ttab", "a\r\nb")
    assert row["custom_fields"] == {"plan": 'quote " and \\\\ and é'}


def test_cli_users_reset_password_projects_once_and_plain_flags(cli_env):
    runner = CliRunner()
    made = runner.invoke(app, ["users", "create", "ada@example.com"])
    assert made.exit_code == 0, made.output
    old = made.stdout.strip().splitlines()[-1]
    reset = runner.invoke(app, ["users", "reset-password", "Ada@Example.com"])
    assert reset.exit_code == 0, reset.output
    new = reset.stdout.strip().splitlines()[-1]
    assert new != old and len(new) >= 10
    from sendhouse.services import users as user_service

    assert (
        in_db(cli_env, lambda db: user_service.login(db, "ada@example.com", new))["email"]
        == "ada@example.com"
    )
    with pytest.raises(AppError):
        in_db(cli_env, lambda db: user_service.login(db, "ada@example.com", old))
    unknown = runner.invoke(app, ["users", "reset-password", "nobody@example.com"])
    assert unknown.exit_code == 1 and "nobody@example.com" in unknown.output
    assert runner.invoke(app, ["projects", "create", "shop"]).exit_code == 0
    twice = runner.invoke(app, ["projects", "create", "shop"])
    assert twice.exit_code == 1 and "exists already" in twice.output
    assert "<bool>" not in runner.invoke(app, ["keys", "create", "--help"]).output
