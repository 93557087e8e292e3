from __future__ import annotations

from pathlib import Path

import pytest

from clicksift.configuration import SETTINGS_TABLE, load_settings, redacted, settings_to_env
from clicksift.errors import ConfigError
from clicksift.reference import PAGES
from clicksift.settings import Settings
from tests.support import ROOT


def test_sources_in_order_default_file_env_option(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nworkers = 3\n')
    env = {"CLICKSIFT_PORT": "9100", "CLICKSIFT_WORKERS": "2"}
    loaded = load_settings(config, env=env, overrides={"workers": 4})
    assert (loaded.settings.host, loaded.settings.port, loaded.settings.workers) == (
        "0.0.0.0", 9100, 4)
    assert loaded.sources["host"] == f"file {config}"
    assert loaded.sources["port"] == "env CLICKSIFT_PORT"
    assert loaded.sources["workers"] == "option"
    assert loaded.sources["database"] == "default"


def test_types_are_converted_from_text() -> None:
    env = {"CLICKSIFT_OPEN_PIXEL": "off", "CLICKSIFT_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
           "CLICKSIFT_HONEYPOT_LINKS": "2"}
    settings = load_settings(None, env=env).settings
    assert settings.open_pixel is False
    assert settings.trusted_proxies == ["10.0.0.0/8", "::1"]
    assert settings.honeypot_links == 2


@pytest.mark.parametrize(("env", "message"), [
    ({"CLICKSIFT_PORT": "eighty"}, "setting 'port' has value 'eighty'"),
    ({"CLICKSIFT_OPEN_PIXEL": "maybe"}, "expected true or false"),
    ({"CLICKSIFT_SERVER": "gunicorn"}, "choose one of granian, uvicorn"),
    ({"CLICKSIFT_BASE_URL": "track.example.com"}, "must start with http"),
    ({"CLICKSIFT_TRUSTED_PROXIES": "10.0.0.300"}, "not an address or network"),
    ({"CLICKSIFT_PORT": "70000"}, "between 1 and 65535"),
    ({"CLICKSIFT_SIGNING_KEYS": "nocolon"}, "each key is 'id:secret'"),
    ({"CLICKSIFT_SIGNING_KEYS": f"a:{'x' * 20},a:{'y' * 20}"}, "key ids must be unique"),
    ({"CLICKSIFT_SIGNING_KEYS": "a:short"}, "too short"),
    ({"CLICKSIFT_KEEP_EVENTS_DAYS": "-1"}, "'keep_events_days' must be 0"),
    ({"CLICKSIFT_KEEP_EVENTS_DAYS": "30", "CLICKSIFT_DATABASE": "postgresql://h/db"},
     "set 'archive_dir'"),
])
def test_bad_values_name_setting_and_source(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, env=env)


# Each setting with a constraint beside it: a value just outside it, and one just inside.
_EDGES = [
    ("port", "0", "65535"), ("workers", "0", "1"), ("honeypot_links", "6", "5"),
    ("commit_batch_size", "0", "1"), ("store_timeout_ms", "0", "1"),
    ("classify_workers", "-1", "0"), ("settle_after_seconds", "-0.5", "0"),
    ("spool_reserve_mb", "1048577", "1048576"), ("keep_events_days", "-1", "0"),
    ("mx_lookup_rate", "0", "0.1"), ("nameserver", "resolver:dns", "127.0.0.1:5353"),
    ("brand_color", "#12345", "#123"), ("topics", "News:Newsletter", "news:Newsletter"),
    ("unsubscribe_mailto", "unsubscribe", "u@example.com"),
    ("trusted_proxies", "10.0.0.0/33", "10.0.0.0/8"),
    ("base_url", "ftp://t.example.com", "https://t.example.com"),
    ("tls_certificate", "/no/such/file", ""),
]


@pytest.mark.parametrize(("name", "outside", "inside"), _EDGES)
def test_each_constraint_refuses_just_outside_and_takes_just_inside(
        name: str, outside: str, inside: str) -> None:
    variable = f"CLICKSIFT_{name.upper()}"
    with pytest.raises(ConfigError, match=f"setting '{name}'"):
        load_settings(None, env={variable: outside})
    load_settings(None, env={variable: inside})


def test_every_declared_constraint_has_its_edges_tested() -> None:
    import dataclasses

    from clicksift.settings import Settings

    declared = {f.name for f in dataclasses.fields(Settings) if f.metadata.get("check")}
    assert declared - {"tls_key", "signing_keys"} == {name for name, _, _ in _EDGES}


@pytest.mark.parametrize(("env", "message"), [
    ({"CLICKSIFT_RULE_WEIGHTS": "nonsense"}, "'nonsense' is not rule=number"),
    ({"CLICKSIFT_RULE_WEIGHTS": "no.such=2"}, "unknown rule 'no.such'"),
    ({"CLICKSIFT_DISABLED_RULES": "no.such"}, "'no.such' matches no rule or family"),
])
def test_classifier_settings_fail_when_loaded_not_when_judging(env: dict[str, str],
                                                               message: str) -> None:
    from click.testing import CliRunner

    from clicksift.cli import main

    result = CliRunner().invoke(main, ["config"], env=env)
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    # near misses: a real rule and weight, a real family and a pattern are accepted
    for good in ({"CLICKSIFT_RULE_WEIGHTS": "ua.crawler=2.5"},
                 {"CLICKSIFT_DISABLED_RULES": "timing,ua.*"},
                 {"CLICKSIFT_SIGNING_KEYS": f"k1:{'s' * 20},k2:{'t' * 20}"}):
        assert CliRunner().invoke(main, ["config"], env=good).exit_code == 0


def test_unknown_file_key_suggests_the_right_name(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("databse = 'x.db'\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'databse' .did you mean 'database'"):
        load_settings(config, env={})


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("port = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, env={})


def test_unknown_environment_variables_are_reported() -> None:
    loaded = load_settings(None, env={"CLICKSIFT_DATABSE": "x"})
    assert loaded.unknown_env == ("CLICKSIFT_DATABSE",)


def test_secrets_are_masked() -> None:
    settings = Settings(signing_keys="k1:supersecretvalue123")
    assert redacted(settings, "signing_keys") == "********"
    assert "supersecret" not in redacted(settings, "signing_keys")


def test_environment_round_trip() -> None:
    settings = load_settings(None, env={
        "CLICKSIFT_TRUSTED_PROXIES": "10.0.0.0/8", "CLICKSIFT_OPEN_PIXEL": "no",
        "CLICKSIFT_PORT": "8123", "CLICKSIFT_SES_TOPIC_ARNS": "arn:a, arn:b",
        "CLICKSIFT_SES_FETCH_CERTIFICATES": "on", "CLICKSIFT_MAILGUN_SIGNING_KEY": "k"}).settings
    assert settings.esp["ses_topic_arns"] == ["arn:a", "arn:b"]
    assert settings.esp["ses_fetch_certificates"] is True
    assert load_settings(None, env=settings_to_env(settings)).settings == settings


def test_esp_settings_are_declared_by_their_adapters(tmp_path: Path) -> None:
    from clicksift.ingest import ADAPTERS

    declared = {info.name for adapter in ADAPTERS.values() for info in adapter.settings}
    assert declared and declared <= set(SETTINGS_TABLE)
    assert not declared & {f.name for f in __import__("dataclasses").fields(Settings)}
    for adapter in ADAPTERS.values():        # every secret verify reads is one of its own
        own = {info.name for info in adapter.settings}
        assert set(adapter.secrets.values()) <= own, adapter.name
    # read from a file like any setting, unknown ones refused with a suggestion
    config = tmp_path / "clicksift.toml"
    config.write_text('postmark_basic_auth = "u:p"\n')
    loaded = load_settings(config, env={})
    assert loaded.settings.esp["postmark_basic_auth"] == "u:p"
    assert loaded.sources["postmark_basic_auth"] == f"file {config}"
    assert redacted(loaded.settings, "postmark_basic_auth") == "********"
    config.write_text('postmark_basic_aut = "u:p"\n')
    with pytest.raises(ConfigError, match="did you mean 'postmark_basic_auth'"):
        load_settings(config, env={})
    with pytest.raises(ConfigError, match="'ses_fetch_certificates' has value 'maybe'"):
        load_settings(None, env={"CLICKSIFT_SES_FETCH_CERTIFICATES": "maybe"})


def test_each_load_has_its_own_list_values() -> None:
    first = load_settings(None, env={}).settings
    first.esp["ses_topic_arns"].append("arn:changed")
    assert load_settings(None, env={}).settings.esp["ses_topic_arns"] == []


def test_settings_holding_an_undeclared_esp_setting_are_refused() -> None:
    from clicksift.configuration import check

    check(Settings(esp={"mailgun_signing_key": "k"}))
    with pytest.raises(ConfigError, match="no ESP declares the setting 'mailgun_key'"):
        check(Settings(esp={"mailgun_key": "k"}))


def test_generated_reference_pages_are_current() -> None:
    for relative, render in PAGES.items():
        assert (ROOT / relative).read_text() == render(), (
            f"{relative} is stale: run scripts/generate_docs.py")


def test_every_setting_is_documented() -> None:
    page = (ROOT / "docs" / "settings.md").read_text()
    for name, info in SETTINGS_TABLE.items():
        assert f"`{name}`" in page, f"docs/settings.md does not describe {name}"
        assert info.env_var in page
