"""Reading a real /metrics endpoint in tests: the address wswatch logged, one scrape parsed."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

SERVING = re.compile(r"wswatch: Prometheus metrics at http://(\S+)/metrics")


def metrics_address(proxy: Any) -> str:
    """`HOST:PORT` where the in-process proxy's exporter serves /metrics now."""
    address = proxy.master.addons.get("wswatch").part("metricsexporter").address
    assert address is not None, "wswatch serves no metrics"
    return str(address)


def logged_metrics_address(output: list[str]) -> str:
    """`HOST:PORT` from the line mitmdump printed when wswatch started serving /metrics."""
    found = [m.group(1) for line in output if (m := SERVING.search(line))]
    assert found, "".join(output)
    return found[-1]


@dataclass
class Scrape:
    text: str
    #: (sample name, sorted label pairs) -> value
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def value(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples whose labels include `labels` (0 if none)."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, pairs), value in self.samples.items()
            if sample == name and wanted <= set(pairs)
        )

    def by(self, name: str, *label_names: str) -> Counter[tuple[str, ...]]:
        """`name`'s non-zero samples summed by the values of `label_names`."""
        totals: Counter[tuple[str, ...]] = Counter()
        for (sample, pairs), value in self.samples.items():
            if sample == name and value:
                found = dict(pairs)
                totals[tuple(found[label] for label in label_names)] += value
        return totals

    def label_values(self) -> set[str]:
        """Every label value in the scrape, histogram bucket bounds aside."""
        return {value for _, pairs in self.samples for label, value in pairs if label != "le"}


def parse(text: str) -> Scrape:
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return Scrape(text, samples)


async def scrape(address: str) -> Scrape:
    """GET http://address/metrics (in a thread: the proxy's loop keeps running), parsed with
    prometheus_client's own text parser."""

    def get() -> str:
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
            return response.read().decode()

    return parse(await asyncio.to_thread(get))


def total(counts: Iterable[dict[str, int] | None], side: str) -> int:
    return sum((per_side or {}).get(side, 0) for per_side in counts)
