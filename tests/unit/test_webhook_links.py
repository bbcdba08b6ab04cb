"""Webhook URLs carry a token binding them to the one job they name."""

from urllib.parse import parse_qs, urlsplit

import pytest

from domain.webhook_links import TOKEN_PARAMETER, WebhookKind, WebhookLinks, job_id_in

BASE = "https://studio.test/webhooks/replicate"
KEY = b"k" * 32


def token_in(url: str) -> str:
    return parse_qs(urlsplit(url).query)[TOKEN_PARAMETER][0]


@pytest.mark.parametrize("kind", list(WebhookKind))
def test_a_url_names_its_job_and_carries_its_token(kind: WebhookKind) -> None:
    links = WebhookLinks(BASE, KEY)

    url = links.url_for(kind, "job-1")

    assert url is not None
    assert url.startswith(BASE + "?")
    assert job_id_in(url, kind) == "job-1"
    assert links.is_valid(kind, "job-1", token_in(url))


def test_a_token_is_valid_for_its_own_job_and_kind_only() -> None:
    links = WebhookLinks(BASE, KEY)
    url = links.url_for(WebhookKind.TRAINING, "job-1")
    assert url is not None
    token = token_in(url)

    assert not links.is_valid(WebhookKind.TRAINING, "job-2", token)
    assert not links.is_valid(WebhookKind.GENERATION, "job-1", token)
    assert not WebhookLinks(BASE, b"x" * 32).is_valid(WebhookKind.TRAINING, "job-1", token)
    assert not links.is_valid(WebhookKind.TRAINING, "job-1", "")
    assert not links.is_valid(WebhookKind.TRAINING, "job-1", "é" + token)


def test_without_a_base_url_no_webhook_is_asked_for() -> None:
    assert WebhookLinks(None, KEY).url_for(WebhookKind.TRAINING, "job-1") is None


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        WebhookLinks(BASE, b"")


@pytest.mark.parametrize("url", [None, "", "https://elsewhere.test/hook", f"{BASE}?generation=g"])
def test_a_url_naming_no_such_job_gives_none(url: str | None) -> None:
    assert job_id_in(url, WebhookKind.TRAINING) is None
