"""Messages built per second on one core: a personalised, tracked campaign, without and with DKIM.

Run: .venv/bin/python bench/build.py [--messages N] [--runs R]
Prints the median of R runs for each mode (RSA-2048 for DKIM): messages per CPU second of this
process (fair on a shared machine) and per wall-clock second. No network, no database.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from sendhouse.delivery.dkim import DkimSigner, generate_dkim_keypair
from sendhouse.domain.ids import new_id
from sendhouse.domain.mime import LinkSettings, MessageSpec, Recipient, compile_skeleton

ROW = (
    '<tr><td style="padding:12px"><h2>{{#if vip}}Members first, {{first_name}}{{else}}News{{/if}}</h2>'
    "<p>Our autumn collection is here, with free shipping on every order over 50 EUR until Sunday.</p>"
    '<a href="https://shop.example.com/item/{{n}}?utm_source=newsletter&amp;utm_medium=email">See more</a></td></tr>'
)
HTML = (
    "<html><head><style>p{color:#333;font-family:Helvetica,Arial,sans-serif} h2{margin:0}</style></head><body>"
    '<table width="600" role="presentation"><tr><td><p>Hello {{first_name | "there"}},</p></td></tr>'
    + "".join(ROW.replace("{{n}}", str(i)) for i in range(5))
    + "<tr><td><p>{{company.name}} · sent to {{email}} on {{date}}</p>"
    '<a href="{{unsubscribe}}">Unsubscribe</a></td></tr></table></body></html>'
)


def spec() -> MessageSpec:
    return MessageSpec(
        project_id=new_id(),
        kind="campaign",
        from_email="news@shop.example.com",
        from_name="Shop News",
        reply_to="help@shop.example.com",
        subject='{{first_name | "Friend"}}, our autumn collection is here',
        html=HTML,
        text=None,
        preview_text="Free shipping until Sunday",
        headers={"X-Campaign": "autumn"},
        tracking_open=True,
        tracking_click=True,
        unsubscribe_group="NEWS01",
        campaign_id=new_id(),
    )


def recipients(count: int) -> list[Recipient]:
    out = []
    for i in range(count):
        row = new_id()
        variables = {
            "first_name": f"Ann{i}",
            "vip": i % 2 == 0,
            "customFields": {"company": {"name": "Acme"}},
        }
        out.append(Recipient(row, f"<{row}@shop.example.com>", f"ann{i}@example.org", f"Ann {i}", variables))
    return out


def run(skeleton, people: list[Recipient]) -> tuple[float, float, int]:
    """(messages per CPU second, messages per wall second, bytes per message) for one pass."""
    now = datetime.now(UTC)
    cpu, wall = time.process_time(), time.perf_counter()
    size = 0
    for person in people:
        size += len(skeleton.render(person, now=now).data)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return len(people) / cpu, len(people) / wall, size // len(people)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    links = LinkSettings("https://mail.shop.example.com", "bounce.shop.example.com", "bench-secret")
    private_pem, _ = generate_dkim_keypair()
    people = recipients(args.messages)
    for label, signer in (
        ("without DKIM", None),
        ("with DKIM (RSA-2048)", DkimSigner("shop.example.com", "s1", private_pem)),
    ):
        skeleton = compile_skeleton(spec(), links, dkim=signer)
        results = [run(skeleton, people) for _ in range(args.runs)]
        cpu = statistics.median(r[0] for r in results)
        wall = statistics.median(r[1] for r in results)
        print(
            f"{label:>22}: {cpu:,.0f} messages per CPU second ({wall:,.0f}/s wall clock), "
            f"median of {args.runs} runs of {args.messages}, {results[0][2]:,} bytes each"
        )


if __name__ == "__main__":
    main()
