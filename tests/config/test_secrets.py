"""Passwords and tokens in URLs: masked in what tuner writes, dropped from the replay command."""

from __future__ import annotations

import io
import logging

import pytest

from tuner.config import compose, drop_password, hide_password, hide_passwords_in_logs, to_yaml, validate
from tuner.study.records import replay_command, replay_overrides


@pytest.mark.parametrize(("text", "masked"), [
    ("postgresql://tuner:s3cret@127.0.0.1:5432/db", "postgresql://tuner:***@127.0.0.1:5432/db"),
    ("postgresql+psycopg://:s3cret@db.example/x", "postgresql+psycopg://:***@db.example/x"),
    ("mysql://me:p/w@d@host/db", "mysql://me:***@host/db"),  # unencoded "/" and "@" in the password
    ("https://h.example/api?token=abc123&page=2", "https://h.example/api?token=***&page=2"),
    ("http://h/x?access_token=t1;api_key=k2#top", "http://h/x?access_token=***;api_key=***#top"),
    ("s3://b/k?X-Amz-Credential=AKIA&X-Amz-Signature=f00", "s3://b/k?X-Amz-Credential=***&X-Amz-Signature=***"),
    ("postgresql://h/db?password=pw&sslmode=require", "postgresql://h/db?password=***&sslmode=require"),
    ("https://h/?client_secret=c&X-Amz-Security-Token=t&private_key=k",
     "https://h/?client_secret=***&X-Amz-Security-Token=***&private_key=***"),
])
def test_hide_password_masks_userinfo_and_secret_query_values(text, masked):
    assert hide_password(text) == masked


def test_several_urls_in_one_string_are_each_masked():
    text = ("python -m tuner 'search.storage=postgresql://u:pw1@a/db' tracking.uri=http://v:pw2@b:5000 "
            "search.warm_start_storage=mysql://w:pw3@c/db")
    masked = hide_password(text)
    assert masked == ("python -m tuner 'search.storage=postgresql://u:***@a/db' tracking.uri=http://v:***@b:5000 "
                      "search.warm_start_storage=mysql://w:***@c/db")
    assert drop_password(text) == ("python -m tuner 'search.storage=postgresql://u@a/db' tracking.uri=http://v@b:5000 "
                                   "search.warm_start_storage=mysql://w@c/db")


@pytest.mark.parametrize("text", [
    "plain text: user:pass@host, key=value, token=abc, a?password=b",  # no URL: nothing to mask
    "sqlite:///mlflow.db", "postgresql://tuner@127.0.0.1/db", "https://medium.com/@someone/post",
    "file:///tmp/x?mode=ro", "search.storage=${oc.env:TUNER_STORAGE}", "",
    "https://h.example/?author=me&design=x&keyword=y&tokens_seen=3",  # names that only contain a secret word
])
def test_text_without_a_secret_is_unchanged(text):
    assert hide_password(text) == text
    assert drop_password(text) == text


def test_drop_password_keeps_the_user_so_libpq_finds_the_password_itself():
    assert drop_password("postgresql://tuner:pw@127.0.0.1:5432/db") == "postgresql://tuner@127.0.0.1:5432/db"
    assert drop_password("postgresql://:pw@127.0.0.1/db") == "postgresql://127.0.0.1/db"


def test_the_composed_config_yaml_masks_every_url_valued_key(monkeypatch):
    monkeypatch.setenv("TUNER_TEST_STORAGE", "postgresql://u:from-env@db/x")
    cfg = compose(["search.storage=${oc.env:TUNER_TEST_STORAGE}", "search.warm_start_storage=mysql://w:pw2@c/db",
                   "tracking.uri='https://me:pw3@mlflow.example?token=pw4'"])
    text = to_yaml(cfg)
    for secret in ("from-env", "pw2", "pw3", "pw4"):
        assert secret not in text
    assert "postgresql://u:***@db/x" in text and "https://me:***@mlflow.example?token=***" in text


def test_the_replay_command_drops_passwords_and_keeps_env_interpolations_as_typed():
    overrides = ["+experiment=digits_mlp", "search.storage=postgresql://tuner:pw@127.0.0.1:5432/db",
                 "search.warm_start_storage=${oc.env:TUNER_STORAGE}", "tracking.uri=http://h:5000/?token=t0k"]
    command = replay_command("digits_mlp", 3, {"width": 8}, seed=7, overrides=overrides)
    assert "pw" not in command.replace("postgresql", "") and "t0k" not in command
    words = replay_overrides(command)
    assert "search.storage=postgresql://tuner@127.0.0.1:5432/db" in words
    assert "search.warm_start_storage=${oc.env:TUNER_STORAGE}" in words
    assert "tracking.uri=http://h:5000/?token=***" in words


def test_log_records_and_their_tracebacks_are_masked_on_every_handler():
    logger = logging.getLogger("tuner.test_secrets")
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        hide_passwords_in_logs(logger)
        hide_passwords_in_logs(logger)  # once is enough: no second filter
        assert len(handler.filters) == 1
        logger.warning("cannot open %s", "postgresql://u:pw-arg@h/db")
        try:
            raise RuntimeError("connect to mysql://u:pw-exc@h/db failed")
        except RuntimeError:
            logger.exception("storage error at http://h/?token=pw-msg")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "pw-" not in out
    assert "postgresql://u:***@h/db" in out and "mysql://u:***@h/db failed" in out and "token=***" in out


def test_the_replay_command_pins_the_backend_and_runs_one_process():
    overrides = ["+experiment=digits_mlp", "search.n_workers=4", "search.trials_per_worker=2", "backend=tensorflow"]
    words = replay_overrides(replay_command("digits_mlp", 3, {"width": 8}, seed=7, overrides=overrides, backend="jax"))
    assert "backend=jax" in words and "backend=tensorflow" not in words
    assert not [w for w in words if w.startswith(("search.n_workers=", "search.trials_per_worker="))]
    validate(compose(words))  # one trial with the study's 4 workers would be refused (more workers than trials)
