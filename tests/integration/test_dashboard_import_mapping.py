"""Import with column mapping and the contact properties page, over the ASGI app on both
databases: unknown columns are proposed as new properties with a guessed type, `city` (reserved
without a built-in field) as the property cityName, a skipped column is reported as skipped, the
segment builder suggests the new properties; another project's upload is not found; an upload
waiting for its mapping is a row and a file in the data dir, so another API process (or the same
one after a restart) maps and starts it, and one never mapped is forgotten after a day."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx2
import sqlalchemy as sa

from sendhouse.app import create_app
from sendhouse.bootstrap import build_container
from sendhouse.domain.times import utcnow
from sendhouse.services import dashboard
from sendhouse.store.schema.audience import contacts
from sendhouse.store.schema.dashboard import import_jobs
from tests.integration.test_dashboard_campaign_page import _login
from tests.support.sending_data import wait_for

CSV = "email,First Name,plan,city,score\nada@shop.example,Ada,pro,London,42\nbob@shop.example,Bob,free,Paris,7\n"


async def _upload(api, token: str) -> str:
    """The mapping page the upload leads to (after its redirect)."""
    answer = await api.client.post(
        "/app/imports", data={"csrf_token": token}, files={"file": ("people.csv", CSV.encode(), "text/csv")}
    )
    assert answer.status_code == 303 and re.fullmatch(
        r"/app/imports/[0-9a-f]{24}", answer.headers["location"]
    )
    page = await api.client.get(answer.headers["location"])
    assert page.status_code == 200, page.text[-500:]
    return page.text


async def _contact(api, project_id: str, email: str) -> dict | None:
    async with api.db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(contacts).where(contacts.c.project_id == project_id, contacts.c.email == email)
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def _finished(api, location: str) -> bool:
    return 'id="import-status">finished<' in (await api.client.get(location)).text


async def test_columns_are_proposed_mapped_and_imported(api, tenant):
    token = await _login(api, tenant)
    page = await _upload(api, token)
    assert "Ada · Bob" in page and "London · Paris" in page  # preview of the first rows
    target_1 = page[page.index('name="target_1"') :]
    assert '<option value="firstName" selected>' in target_1[: target_1.index("</select>")]
    assert 'id="newName_2" name="newName_2" value="plan"' in page
    assert (
        'id="newName_3" name="newName_3" value="cityName"' in page
        and "reserved name without a built-in" in page
    )
    assert re.search(r'name="newType_4">.*<option value="number" selected>', page)
    upload_id = re.search(r"/app/imports/([0-9a-f]{24})/start", page)[1]
    started = await api.client.post(
        f"/app/imports/{upload_id}/start",
        data={
            "csrf_token": token,
            "target_0": "email",
            "target_1": "firstName",
            "target_2": "new",
            "newName_2": "plan",
            "newType_2": "string",
            "target_3": "new",
            "newName_3": "cityName",
            "newType_3": "string",
            "target_4": "skip",
        },
    )
    assert started.status_code == 303
    await wait_for(lambda: _finished(api, started.headers["location"]))
    report = (await api.client.get(started.headers["location"])).text
    assert (
        "2 contacts imported" in report and 'id="import-skipped">Columns you chose to skip: score<' in report
    )
    found = await _contact(api, tenant.project_id, "ada@shop.example")
    assert found["first_name"] == "Ada" and found["custom_fields"] == {"plan": "pro", "cityName": "London"}
    properties = (await api.client.get("/app/properties")).text
    assert 'data-property="plan"' in properties and 'data-property="cityName"' in properties
    assert '<option value="cityName" data-type="string">' in (await api.client.get("/app/lists")).text
    again = await api.client.post(f"/app/imports/{upload_id}/start", data={"csrf_token": token})
    assert again.status_code == 404  # an upload is imported once


async def test_a_property_that_cannot_be_created_changes_nothing(api, tenant):
    token = await _login(api, tenant)
    upload_id = re.search(r"/app/imports/([0-9a-f]{24})/start", await _upload(api, token))[1]
    refused = await api.client.post(
        f"/app/imports/{upload_id}/start",
        data={
            "csrf_token": token,
            "target_0": "email",
            "target_3": "new",
            "newName_3": "city",
            "newType_3": "string",
        },
    )
    assert refused.headers["location"] == f"/app/imports/{upload_id}"  # back to the mapping, the upload kept
    page = (await api.client.get(refused.headers["location"])).text
    assert "columns[3]" not in page and "property “city”" in page and "reserved" in page
    assert "Map the columns" in page
    assert await _contact(api, tenant.project_id, "ada@shop.example") is None


async def test_the_properties_page_creates_and_deletes(api, tenant):
    token = await _login(api, tenant)
    made = await api.client.post(
        "/app/properties", data={"csrf_token": token, "name": "plan", "type": "string"}
    )
    assert made.status_code == 303
    reserved = await api.client.post(
        "/app/properties", data={"csrf_token": token, "name": "city", "type": "string"}
    )
    assert reserved.status_code == 400 and "Name: &#39;city&#39; is reserved by the API" in reserved.text
    bad_type = await api.client.post(
        "/app/properties", data={"csrf_token": token, "name": "x", "type": "blob"}
    )
    assert bad_type.status_code == 400
    page = (await api.client.get("/app/properties")).text
    assert (
        'data-property="plan"' in page and 'data-property="email"' in page and 'data-property="x"' not in page
    )
    await api.client.post("/app/properties/plan/delete", data={"csrf_token": token})
    assert 'data-property="plan"' not in (await api.client.get("/app/properties")).text


async def test_another_projects_upload_is_not_found(api, tenant, other_tenant):
    token = await _login(api, tenant)
    upload_id = re.search(r"/app/imports/([0-9a-f]{24})/start", await _upload(api, token))[1]
    await _login(api, other_tenant, email="eve@other.example")
    other_token = re.search(
        r'name="csrf_token" value="([^"]+)"', (await api.client.get("/app/campaigns")).text
    )[1]
    answer = await api.client.post(
        f"/app/imports/{upload_id}/start", data={"csrf_token": other_token, "target_0": "email"}
    )
    assert answer.status_code == 404


async def _second_process(api, settings):
    """Another API process on the same database and data dir, with the browser's cookies."""
    other = build_container(settings, migrate=False)
    app = create_app(container=other)
    client = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://sendhouse.test", cookies=api.client.cookies
    )
    return other, client


async def test_an_upload_waiting_for_its_mapping_is_found_by_another_process(api, tenant, settings):
    token = await _login(api, tenant)
    upload_id = re.search(r"/app/imports/([0-9a-f]{24})/start", await _upload(api, token))[1]
    other, client = await _second_process(api, settings)
    try:
        page = await client.get(f"/app/imports/{upload_id}")
        assert page.status_code == 200 and "Ada · Bob" in page.text
        started = await client.post(
            f"/app/imports/{upload_id}/start",
            data={
                "csrf_token": token,
                "target_0": "email",
                "target_1": "firstName",
                "target_2": "skip",
                "target_3": "skip",
                "target_4": "skip",
            },
        )
        assert started.headers["location"] == f"/app/imports/{upload_id}"
        await wait_for(lambda: _finished(api, started.headers["location"]))
    finally:
        await client.aclose()
        await other.close()
    assert (await _contact(api, tenant.project_id, "bob@shop.example"))["first_name"] == "Bob"
    assert not dashboard.upload_file(settings.data_dir, upload_id).exists()
    again = await api.client.post(
        f"/app/imports/{upload_id}/start", data={"csrf_token": token, "target_0": "email"}
    )
    assert again.status_code == 404


async def test_an_upload_never_mapped_is_forgotten_after_a_day(api, tenant, settings):
    token = await _login(api, tenant)
    old_id = re.search(r"/app/imports/([0-9a-f]{24})/start", await _upload(api, token))[1]
    async with api.db.write() as conn:
        await conn.execute(
            import_jobs.update()
            .where(import_jobs.c.id == old_id)
            .values(created_at=utcnow() - dashboard.PENDING_UPLOAD_KEPT - timedelta(minutes=1))
        )
    new_id = re.search(r"/app/imports/([0-9a-f]{24})/start", await _upload(api, token))[1]
    assert not dashboard.upload_file(settings.data_dir, old_id).exists()
    assert dashboard.upload_file(settings.data_dir, new_id).exists()
    assert (await api.client.get(f"/app/imports/{old_id}")).status_code == 404
