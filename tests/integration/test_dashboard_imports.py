"""Dashboard CSV import jobs as database rows, on both databases: progress and report readable from
another process (a second Database on the same database), an interrupted job reported as such,
another project's job not found, and the upload form over HTTP with its status page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sendhouse.bootstrap import build_container
from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.errors import NotFound
from sendhouse.services import dashboard
from sendhouse.store.schema.audience import contacts
from sendhouse.store.schema.dashboard import import_jobs
from tests.integration.test_dashboard_pages import _login
from tests.support.sending_data import wait_for

CSV = "email,firstName\nann@example.com,Ann\nnot-an-address,Bob\ncat@example.com,Cat\n"


def upload(tmp_path, text: str = CSV):
    path = tmp_path / f"{ids.new_id()}.csv"
    path.write_text(text)
    return path


@pytest.fixture
async def elsewhere(settings):
    """Another process's view of the same database."""
    other = build_container(settings, migrate=False)
    yield other
    await other.close()


async def finished(db, project_id: str, job_id: str):
    job = await dashboard.get_import(db, project_id, job_id)
    return job if job.status != "running" else None


async def test_progress_and_report_are_read_from_the_database(api, tenant, elsewhere, tmp_path):
    path = upload(tmp_path)
    job = await dashboard.start_import(api.db, tenant.project_id, path, None)
    assert job.status == "running" and job.total == 3
    done = await wait_for(lambda: finished(elsewhere.db, tenant.project_id, job.id), timeout=20)
    assert (done.status, done.done, done.percent, done.error) == ("finished", 3, 100, None)
    report = done.report
    assert (report.rows, report.imported, report.failed) == (3, 2, 1)
    assert report.errors == [(3, "invalid email 'not-an-address'")] and report.ignored_columns == []
    assert not path.exists()
    async with api.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(contacts))).scalar_one() == 2


async def test_rows_repeating_an_email_are_kept_in_the_report(api, tenant, elsewhere, tmp_path):
    text = "email,firstName\nann@example.com,Ann\ncat@example.com,Cat\nANN@example.com,Annie\n"
    job = await dashboard.start_import(api.db, tenant.project_id, upload(tmp_path, text), None)
    done = await wait_for(lambda: finished(elsewhere.db, tenant.project_id, job.id), timeout=20)
    assert (done.report.imported, done.report.merged, done.report.repeats) == (2, 1, [(4, 2)])


async def test_a_file_that_cannot_be_imported_fails_with_its_reason(api, tenant, elsewhere, tmp_path):
    job = await dashboard.start_import(api.db, tenant.project_id, upload(tmp_path, "name\nAnn\n"), None)
    done = await wait_for(lambda: finished(elsewhere.db, tenant.project_id, job.id), timeout=20)
    assert (done.status, done.error, done.report) == (
        "failed",
        "the CSV needs an email column; its header row read as 'name'",
        None,
    )


async def test_a_job_interrupted_by_a_restart_is_reported_as_such(api, tenant):
    now = utcnow()
    rows = {
        name: {
            "id": ids.new_id(),
            "project_id": tenant.project_id,
            "status": "running",
            "total": 100,
            "done": 40,
            "created_at": now - age,
            "updated_at": now - age,
        }
        for name, age in (("silent", dashboard.STALE_IMPORT + timedelta(seconds=1)), ("busy", timedelta(0)))
    }
    async with api.db.write() as conn:
        await conn.execute(import_jobs.insert(), list(rows.values()))
    silent = await dashboard.get_import(api.db, tenant.project_id, rows["silent"]["id"])
    assert (silent.status, silent.error, silent.percent) == ("failed", dashboard.INTERRUPTED, 100)
    busy = await dashboard.get_import(api.db, tenant.project_id, rows["busy"]["id"])
    assert (busy.status, busy.done, busy.percent) == ("running", 40, 40)


async def test_another_projects_job_is_not_found(api, tenant, other_tenant, tmp_path):
    job = await dashboard.start_import(api.db, tenant.project_id, upload(tmp_path), None)
    for project_id, job_id in ((other_tenant.project_id, job.id), (tenant.project_id, ids.new_id())):
        with pytest.raises(NotFound):
            await dashboard.get_import(api.db, project_id, job_id)
    await wait_for(lambda: finished(api.db, tenant.project_id, job.id), timeout=20)


async def test_the_upload_form_and_its_status_page(api, tenant, elsewhere):
    token = await _login(api, tenant)
    uploaded = await api.client.post(
        "/app/imports", data={"csrf_token": token}, files={"file": ("people.csv", CSV.encode(), "text/csv")}
    )
    mapping = await api.client.get(uploaded.headers["location"])
    upload_id = re.search(r"/app/imports/([0-9a-f]{24})/start", mapping.text)[1]
    sent = await api.client.post(
        f"/app/imports/{upload_id}/start",
        data={"csrf_token": token, "target_0": "email", "target_1": "firstName"},
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/app/imports/")
    job_id = sent.headers["location"].rsplit("/", 1)[1]
    await wait_for(lambda: finished(elsewhere.db, tenant.project_id, job_id), timeout=20)
    page = await api.client.get(sent.headers["location"])
    assert page.status_code == 200 and "3 rows read, 2 contacts imported, 1 row skipped." in page.text
    missing = await api.client.get(f"/app/imports/{ids.new_id()}")
    assert missing.status_code == 404
