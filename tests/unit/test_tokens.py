"""Signed tokens: round trips, tampering, foreign secrets, kind confusion and address tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendhouse.domain import tokens
from sendhouse.domain.ids import new_id

SECRET = "test-secret-1"
OTHER = "test-secret-2"


def target(**overrides) -> tokens.UnsubscribeTarget:
    values = {"project_id": new_id(), "email": "ann@example.org", "group": "AB12C3", "message_id": new_id()}
    return tokens.UnsubscribeTarget(**(values | overrides))


def flips(token: str):
    """Every token that differs from `token` in one character."""
    for index, char in enumerate(token):
        for replacement in ("A", "b", "-", "0"):
            if replacement != char:
                yield token[:index] + replacement + token[index + 1 :]


ZERO_BYTE_IDS = ["00" * 12, "6b1500eb3463f9522abb4bcf", "6b1500eb00000000000000ff", "ff" * 12]


@pytest.mark.parametrize("row", ["6b1511eb3463f9522abb4bc1", *ZERO_BYTE_IDS])
def test_open_round_trip_and_url_safety(row):
    token = tokens.sign_open(SECRET, row)
    assert tokens.verify_open(SECRET, token) == row
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(token) < 50


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a?b=1&c=2#frag", "http://ünï.example/päth?q=€", "https://x.test/" + "a" * 2000],
)
def test_click_carries_the_exact_url(url):
    row = new_id()
    assert tokens.verify_click(SECRET, tokens.sign_click(SECRET, row, url)) == tokens.ClickTarget(row, url)


def test_unsubscribe_and_preference_round_trip_including_no_group():
    for value in (target(), target(group=None), target(project_id="not-hex", email="ÿ@example.org")):
        assert tokens.verify_unsubscribe(SECRET, tokens.sign_unsubscribe(SECRET, value)) == value
        assert tokens.verify_preference(SECRET, tokens.sign_preference(SECRET, value)) == value


def test_every_single_character_change_is_rejected():
    token = tokens.sign_click(SECRET, new_id(), "https://example.com/x")
    assert all(tokens.verify_click(SECRET, bad) is None for bad in flips(token))
    for extra in ("=", "==", "!", " ", "\n"):
        assert tokens.verify_click(SECRET, token + extra) is None
        assert tokens.verify_click(SECRET, extra + token) is None


def test_foreign_secret_is_rejected():
    row = new_id()
    assert tokens.verify_open(OTHER, tokens.sign_open(SECRET, row)) is None
    assert tokens.verify_click(OTHER, tokens.sign_click(SECRET, row, "https://a.test")) is None
    assert tokens.verify_unsubscribe(OTHER, tokens.sign_unsubscribe(SECRET, target())) is None


def test_a_token_of_one_kind_never_verifies_as_another():
    row = new_id()
    value = target(message_id=row)
    open_token = tokens.sign_open(SECRET, row)
    click_token = tokens.sign_click(SECRET, row, "https://a.test")
    unsubscribe_token = tokens.sign_unsubscribe(SECRET, value)
    preference_token = tokens.sign_preference(SECRET, value)
    assert tokens.verify_click(SECRET, open_token) is None
    assert tokens.verify_open(SECRET, click_token) is None
    assert tokens.verify_unsubscribe(SECRET, preference_token) is None
    assert tokens.verify_preference(SECRET, unsubscribe_token) is None
    assert tokens.verify_unsubscribe(SECRET, click_token) is None


def test_click_url_cannot_be_swapped():
    row = new_id()
    good = tokens.sign_click(SECRET, row, "https://shop.test/")
    evil = tokens.sign_click(SECRET, row, "https://evil.test/")
    spliced = evil.split(".")[0] + "." + good.split(".")[1]
    assert tokens.verify_click(SECRET, spliced) is None


@pytest.mark.parametrize("garbage", ["", ".", "..", "a.b", "!!!.???", "AAAA", "x" * 500, "é.é", "AA.=="])
def test_garbage_is_none(garbage):
    assert tokens.verify_open(SECRET, garbage) is None
    assert tokens.verify_click(SECRET, garbage) is None
    assert tokens.verify_unsubscribe(SECRET, garbage) is None
    assert tokens.verify_address(SECRET, "bounce", garbage) is None


@given(st.text(max_size=120))
def test_arbitrary_strings_never_raise(text):
    assert tokens.verify_click(SECRET, text) is None
    assert tokens.verify_preference(SECRET, text) is None
    assert tokens.parse_local_part(SECRET, text) is None


@given(
    st.text(max_size=40).filter(lambda s: "\x00" not in s),
    st.text(max_size=200).filter(lambda s: "\x00" not in s),
)
def test_any_text_fields_round_trip(row, url):
    assert tokens.verify_click(SECRET, tokens.sign_click(SECRET, row, url)) == tokens.ClickTarget(row, url)


def test_nul_in_a_field_is_refused():
    with pytest.raises(ValueError):
        tokens.sign_click(SECRET, new_id(), "https://a.test/\x00")


@pytest.mark.parametrize("row", ["6b1511eb3463f9522abb4bc1", *ZERO_BYTE_IDS])
def test_verp_addresses_fit_a_local_part_and_survive_case_folding(row):
    bounce = tokens.bounce_address(SECRET, row, "bounce.example.com")
    unsubscribe = tokens.unsubscribe_address(SECRET, row, "bounce.example.com")
    for address, kind in ((bounce, "bounce"), (unsubscribe, "unsubscribe")):
        local, domain = address.split("@")
        assert domain == "bounce.example.com" and len(local) <= 64
        assert tokens.parse_local_part(SECRET, local) == (kind, row)
        assert tokens.parse_local_part(SECRET, local.upper()) == (kind, row)
        assert tokens.parse_local_part(OTHER, local) is None


@given(st.binary(min_size=12, max_size=12), st.text(st.characters(exclude_characters="\x00"), max_size=40))
def test_every_id_keeps_its_short_encoding_whatever_its_bytes(raw, url):
    row = raw.hex()
    open_token = tokens.sign_open(SECRET, row)
    assert tokens.verify_open(SECRET, open_token) == row and len(open_token) < 50
    assert tokens.verify_click(SECRET, tokens.sign_click(SECRET, row, url)) == tokens.ClickTarget(row, url)
    local = tokens.bounce_address(SECRET, row, "b.example").split("@")[0]
    assert len(local) <= 64 and tokens.parse_local_part(SECRET, local) == ("bounce", row)


def test_tokens_signed_before_ids_had_their_own_tag_still_verify():
    """Mail already sent carries ids packed as plain hex (tag 1) or, with a zero byte, as text (tag 2)."""
    key = tokens.web_key(SECRET, "open")
    for row, packed in (("6b1511eb3463f9522abb4bc1", b"\x01"), ("6b1500eb3463f9522abb4bcf", b"\x02")):
        body = bytes.fromhex(row) if packed == b"\x01" else row.encode()
        assert tokens.verify_open(SECRET, tokens.sign_packed(key, packed + body)) == row
    click_payload = b"\x01" + bytes.fromhex("6b1511eb3463f9522abb4bc1") + b"\x00\x02https://a.test/"
    click = tokens.sign_packed(tokens.web_key(SECRET, "click"), click_payload)
    assert tokens.verify_click(SECRET, click) == tokens.ClickTarget(
        "6b1511eb3463f9522abb4bc1", "https://a.test/"
    )


@pytest.mark.parametrize(
    "payload", [b"\x03" + b"\x00" * 11, b"\x03" + b"\x00" * 12 + b"x", b"\x03" + b"\x00" * 12 + b"\x00"]
)
def test_a_truncated_or_overlong_id_field_is_refused(payload):
    token = tokens.sign_packed(tokens.web_key(SECRET, "open"), payload)
    assert tokens.verify_open(SECRET, token) is None


def test_address_kinds_are_not_interchangeable():
    row = new_id()
    token = tokens.sign_address(SECRET, "bounce", row)
    assert tokens.parse_local_part(SECRET, "unsubscribe+" + token) is None
    assert tokens.parse_local_part(SECRET, "other+" + token) is None
    changed = [bad for bad in flips(token) if bad.lower() != token.lower()]
    assert changed and all(tokens.verify_address(SECRET, "bounce", bad) is None for bad in changed)


def test_paths_do_not_overlap():
    assert {tokens.OPEN_PATH, tokens.CLICK_PATH, tokens.UNSUBSCRIBE_PATH, tokens.PREFERENCE_PATH} == {
        "/t/o/",
        "/t/c/",
        "/u/",
        "/u/p/",
    }
    assert "/" not in tokens.sign_unsubscribe(SECRET, target())
