"""Settings: every one is documented in README.md's settings table, with its default and help."""

from pathlib import Path

from sendhouse.config import Settings, setting_env_names

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table():
    table_rows = [line for line in README.read_text().splitlines() if line.startswith("| `SENDHOUSE_")]
    documented = {row.split("`")[1] for row in table_rows}
    assert set(setting_env_names()) <= documented, set(setting_env_names()) - documented


def test_every_setting_has_help_text():
    for name, field in Settings.model_fields.items():
        assert field.description, name


def test_settings_read_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SENDHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SENDHOUSE_SEND_NOW_DELAY", "7")
    settings = Settings()
    assert settings.send_now_delay == 7
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path.resolve()}/sendhouse.db"
    assert settings.resolved_bounce_domain() == "127.0.0.1"


def test_secret_key_is_generated_once(tmp_path):
    settings = Settings(data_dir=tmp_path)
    first = settings.resolved_secret_key()
    assert len(first) > 40 and Settings(data_dir=tmp_path).resolved_secret_key() == first


def test_verified_domains_are_required_by_default_only_with_a_real_relay(monkeypatch, tmp_path):
    monkeypatch.delenv("SENDHOUSE_REQUIRE_VERIFIED_DOMAIN", raising=False)
    assert Settings(data_dir=tmp_path).verified_domain_required() is False
    assert (
        Settings(data_dir=tmp_path, smtp_url="smtp://relay.example.com:587").verified_domain_required()
        is True
    )
    assert (
        Settings(data_dir=tmp_path, smtp_url="smtps://relay.example.com").verified_domain_required() is True
    )
    monkeypatch.setenv("SENDHOUSE_REQUIRE_VERIFIED_DOMAIN", "false")
    assert (
        Settings(data_dir=tmp_path, smtp_url="smtp://relay.example.com:587").verified_domain_required()
        is False
    )
    monkeypatch.setenv("SENDHOUSE_REQUIRE_VERIFIED_DOMAIN", "true")
    assert Settings(data_dir=tmp_path).verified_domain_required() is True
    monkeypatch.setenv("SENDHOUSE_REQUIRE_VERIFIED_DOMAIN", "")
    assert (
        Settings(data_dir=tmp_path, smtp_url="smtp://relay.example.com:587").verified_domain_required()
        is True
    )


def test_the_public_url_follows_the_listener_unless_set(monkeypatch):
    from sendhouse.config import Settings, listening_url

    monkeypatch.delenv("SENDHOUSE_PUBLIC_URL", raising=False)
    assert Settings().for_listener("127.0.0.1", 18383).public_url == "http://127.0.0.1:18383"
    assert Settings().for_listener("0.0.0.0", 9000).resolved_bounce_domain() == "127.0.0.1"
    assert listening_url("::", 80) == "http://[::1]:80" and listening_url("mail.example", 8080).endswith(
        "e:8080"
    )
    monkeypatch.setenv("SENDHOUSE_PUBLIC_URL", "https://mail.shop.example")
    kept = Settings().for_listener("127.0.0.1", 18383)
    assert kept.public_url == "https://mail.shop.example" and kept.public_url_is_explicit()
