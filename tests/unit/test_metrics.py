"""The metrics' labels stay bounded, and their exposition's parts behave."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from persistence.status_counts import JobsInStatus, StatusCounts, TasksInStatus
from schema.metrics_extension import FinishedOperation
from server.metrics import (
    MAX_OPERATION_NAMES,
    OperationNames,
    PrometheusOperations,
    WebhookVerdict,
    count_webhook,
)
from server.metrics_endpoint import (
    bearer_matches,
    database_metrics,
    exposition,
    forget_dead_processes,
)
from server.metrics_http import UpstreamEndpoints
from settings import load_settings
from tests.scraped_metrics import Scrape, parse

BASE_URL = "https://api.replicate.test/v1"


@pytest.mark.parametrize(
    ("method", "url", "endpoint"),
    [
        ("GET", "/predictions/p-123", "GET /v1/predictions/{id}"),
        ("POST", "/predictions/p-123/cancel", "POST /v1/predictions/{id}/cancel"),
        ("GET", "/predictions?cursor=abc", "GET /v1/predictions"),
        (
            "POST",
            "/models/owner/alice-lora/versions/v1/trainings",
            "POST /v1/models/{owner}/{name}/versions/{id}/trainings",
        ),
        ("DELETE", "/models/owner/alice-lora", "DELETE /v1/models/{owner}/{name}"),
        ("DELETE", "/files/f-9", "DELETE /v1/files/{id}"),
        ("GET", "/webhooks/default/secret", "GET /v1/webhooks/default/secret"),
        ("GET", "/account", "other"),
        ("GET", "/predictions/p-1/extra/segments", "other"),
    ],
)
def test_upstream_endpoints_are_named_by_template(method: str, url: str, endpoint: str) -> None:
    request = httpx.Request(method, BASE_URL + url)

    assert UpstreamEndpoints(BASE_URL).name(request) == endpoint


def test_other_hosts_are_not_named() -> None:
    request = httpx.Request("GET", "https://issuer.example/.well-known/jwks.json")

    assert UpstreamEndpoints(BASE_URL).name(request) == "other"


@pytest.mark.parametrize(
    ("given", "label"),
    [
        (None, "anonymous"),
        ("GenerateMaya", "GenerateMaya"),
        ("snake_case_2", "snake_case_2"),
        ("x" * 65, "other"),
        ("with-dash", "other"),
        ("", "other"),
    ],
)
def test_operation_names_are_plain_and_short(given: str | None, label: str) -> None:
    assert OperationNames(MAX_OPERATION_NAMES).label(given) == label


def test_only_so_many_operation_names_are_kept() -> None:
    names = OperationNames(2)

    labels = [names.label(name) for name in ["First", "Second", "Third", "First"]]

    assert labels == ["First", "Second", "other", "First"]


def test_an_unknown_code_is_counted_as_other_and_refusals_by_their_code() -> None:
    operations = PrometheusOperations()
    labels = {"operation": "UnitTestOperation", "type": "mutation"}
    before = sample("sselfie_allowance_refusals_total", code="QUOTA_EXCEEDED")

    operations.operation_finished(
        FinishedOperation("UnitTestOperation", "mutation", ("NOT_A_CODE",), 0.01)
    )
    operations.operation_finished(
        FinishedOperation("UnitTestOperation", "mutation", ("QUOTA_EXCEEDED",), 0.01)
    )

    assert sample("sselfie_graphql_operations_total", outcome="other", **labels) == 1
    assert sample("sselfie_graphql_operations_total", outcome="QUOTA_EXCEEDED", **labels) == 1
    assert sample("sselfie_allowance_refusals_total", code="QUOTA_EXCEEDED") == before + 1


def test_a_webhook_naming_no_kind_is_counted_under_none() -> None:
    before = sample("sselfie_webhooks_received_total", kind="none", verdict="unknown_job")

    count_webhook(None, WebhookVerdict.UNKNOWN_JOB)
    count_webhook("not-a-kind", WebhookVerdict.UNKNOWN_JOB)

    after = sample("sselfie_webhooks_received_total", kind="none", verdict="unknown_job")
    assert after == before + 2


@pytest.mark.parametrize(
    ("authorization", "matches"),
    [
        ("Bearer the-token-of-metrics", True),
        ("bearer the-token-of-metrics", True),
        ("Bearer the-token-of-metricz", False),
        ("Bearer the-token-of-metrics-and-more", False),
        ("Basic the-token-of-metrics", False),
        ("the-token-of-metrics", False),
        ("", False),
        (None, False),
    ],
)
def test_the_bearer_token_must_match_exactly(authorization: str | None, matches: bool) -> None:
    assert bearer_matches(authorization, "the-token-of-metrics") is matches


def test_database_counts_are_reported_for_every_status_and_entrypoint() -> None:
    counts = StatusCounts(
        trainings=[JobsInStatus("PROCESSING", 2, 600.0), JobsInStatus("SUCCEEDED", 7, 9e5)],
        generations=[],
        tasks=[TasksInStatus("store_outputs", "queued", 3, 12.5)],
    )

    scrape = scraped(counts)

    assert scrape.value("sselfie_metrics_database_up") == 1
    assert scrape.value("sselfie_trainings", status="PROCESSING") == 2
    assert scrape.value("sselfie_trainings", status="QUEUED") == 0
    assert scrape.value("sselfie_trainings_oldest_age_seconds", status="PROCESSING") == 600
    # The age of ended jobs says nothing.
    assert "SUCCEEDED" not in scrape.label_values("sselfie_trainings_oldest_age_seconds", "status")
    assert scrape.label_values("sselfie_generations", "status") == {
        "STARTING",
        "PROCESSING",
        "SUCCEEDED",
        "FAILED",
        "CANCELED",
    }
    assert scrape.value("sselfie_task_queue_tasks", entrypoint="store_outputs") == 3
    assert scrape.value("sselfie_task_queue_tasks", entrypoint="reconcile", status="picked") == 0
    oldest = scrape.value("sselfie_task_queue_oldest_due_age_seconds", entrypoint="store_outputs")
    assert oldest == 12.5


def test_without_the_database_a_scrape_says_so() -> None:
    scrape = scraped(None)

    assert scrape.value("sselfie_metrics_database_up") == 0
    assert scrape.label_values("sselfie_trainings", "status") == set()


def test_the_live_gauges_of_ended_processes_are_dropped_and_their_counts_kept(
    tmp_path: Path,
) -> None:
    ended, running = ended_pid(), os.getpid()
    for name in [f"gauge_livesum_{ended}.db", f"counter_{ended}.db", f"gauge_livesum_{running}.db"]:
        (tmp_path / name).touch()

    forget_dead_processes(str(tmp_path))

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{ended}.db", f"gauge_livesum_{running}.db"]
    )


def ended_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(counts: StatusCounts | None) -> Scrape:
    """This process's exposition with these counts from the database."""
    return parse(exposition(None, database_metrics(counts)).decode())


@pytest.mark.parametrize(
    ("token", "refused"), [("short-token", True), ("a-token-of-sixteen", False), (None, False)]
)
def test_a_short_metrics_token_is_a_deployment_problem(token: str | None, refused: bool) -> None:
    problems = load_settings(metrics_token=token).deployment_problems()

    assert any("METRICS_TOKEN" in problem for problem in problems) is refused


def test_metrics_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_TOKEN", "  ")
    monkeypatch.setenv("METRICS_PORT", "9100")
    monkeypatch.setenv("METRICS_HOST", "0.0.0.0")  # noqa: S104 (a setting's value)

    settings = load_settings()

    assert (settings.metrics_token, settings.metrics_port, settings.metrics_host) == (
        None,
        9100,
        "0.0.0.0",  # noqa: S104
    )
    assert load_settings(METRICS_PORT="").metrics_port is None
