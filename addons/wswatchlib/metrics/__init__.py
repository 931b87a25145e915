"""Prometheus metrics: wswatch's events as counters, gauges and histograms a fleet can scrape.

This subpackage owns the metrics. Pure, deciding: `catalog` (every metric: name, type, labels,
unit, the one table the exporter and docs/report-and-metrics.md follow), `labels` (label
values bounded and normalised, so no URL, address, id or secret can become one), `mapping` (an
event as written -> the metric updates it makes) and `address` (the `wswatch_metrics` value).
Acting: `exporter`, the addon that owns a private `prometheus_client` registry, applies the
updates as the event log writes events and serves `/metrics`. The pure modules import only the
shared event contract, the closed sets they validate against (`watch/network_errors.py`) and
each other; only `exporter` imports mitmproxy and prometheus_client.

May import: events, options, output, watch.
"""
