"""Reading /metrics as Prometheus would: the samples of one scrape, and sums over them."""

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

METRICS_TOKEN = "a-metrics-token-long-enough-to-pass"


@dataclass(frozen=True)
class Scrape:
    text: str
    samples: list[Sample]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels`."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {sample.labels[label] for sample in self.samples if sample.name == name}


def parse(text: str) -> Scrape:
    samples = [
        sample for family in text_string_to_metric_families(text) for sample in family.samples
    ]
    return Scrape(text, samples)


async def scrape(client: httpx.AsyncClient, url: str, token: str | None = METRICS_TOKEN) -> Scrape:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)
