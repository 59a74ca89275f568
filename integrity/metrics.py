"""Prometheus metrics, for ``serve`` and ``run`` (``/metrics``).

Two sources.  ``StoreCollector`` reads the store at each scrape, so any
process that can open the store reports the same numbers: devices by state,
checks recorded by outcome and mode, how far the schedule lags, the
scheduler's heartbeat age, recent events (sink failures, watcher events) and
supplier flags.  ``RunMetrics`` lives in the daemon and counts what only it
sees: each read's duration per protocol, sweeps, and alert-sink failures.

Example alert rules: docs/alerts-prometheus.yml.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

PREFIX = "plc_integrity"
RECENT = timedelta(hours=24)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class StoreCollector:
    """Reads the store at each scrape.  ``fleet`` gives the fleet snapshot
    (integrity.web.views.fleet_snapshot), which the dashboard caches for a few
    seconds, so a scrape and a page reload share one computation."""

    def __init__(self, store: Any, fleet: Callable[[], dict[str, Any]], *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store, self.fleet = store, fleet
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def describe(self) -> list[Metric]:
        return []  # registering must not read the store

    def collect(self) -> Iterator[Metric]:
        from integrity.web.views import SINK_FAILURES, STATES, WATCH_EVENTS, WATCHER_HEARTBEAT

        now = self.clock()
        doc = self.fleet()
        states = GaugeMetricFamily(f"{PREFIX}_devices", "Devices by state (as the fleet page "
                                   "shows it)", labels=["state"])
        for state in STATES:
            states.add_metric([state], doc["counts"].get(state, 0))
        yield states

        checks = CounterMetricFamily(f"{PREFIX}_checks", "Checks recorded in the store, by "
                                     "outcome and mode", labels=["status", "mode"])
        for (status, mode), n in sorted(self.store.check_counts().items(),
                                        key=lambda kv: (kv[0][0], kv[0][1] or "")):
            checks.add_metric([status, mode or "none"], n)
        yield checks

        due = [n for n, _ in self.store.schedule_rows().values()]
        lag = max([(now - n).total_seconds() for n in due] + [0.0])
        yield GaugeMetricFamily(f"{PREFIX}_sweep_lag_seconds", "How far the most overdue "
                                "scheduled job is behind its due time (0: none overdue)",
                                value=lag)

        beat = self.store.heartbeat("scheduler")
        yield GaugeMetricFamily(f"{PREFIX}_scheduler_up", "1 if the scheduler is running "
                                "(heartbeat fresh), else 0", value=doc["scheduler"] == "running")
        age = GaugeMetricFamily(f"{PREFIX}_heartbeat_age_seconds", "Seconds since the last "
                                "heartbeat", labels=["process"])
        for name, hb in (("scheduler", beat), ("watcher", self.store.heartbeat(WATCHER_HEARTBEAT))):
            if hb is not None:
                age.add_metric([name], (now - hb[0]).total_seconds())
        yield age

        kinds: dict[str, int] = {}
        for e in self.store.events(limit=1000):
            try:
                if now - datetime.fromisoformat(e["at"].replace("Z", "+00:00")) > RECENT:
                    continue
            except ValueError:
                continue
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        events = GaugeMetricFamily(f"{PREFIX}_recent_events", "Events recorded in the last "
                                   "24 h (of the newest 1000), by kind", labels=["kind"])
        for kind, n in sorted(kinds.items()):
            events.add_metric([kind], n)
        yield events
        yield GaugeMetricFamily(f"{PREFIX}_recent_sink_failures", "Alert-sink failures "
                                "recorded in the last 24 h", value=sum(
                                    n for k, n in kinds.items() if k.startswith(SINK_FAILURES)))
        yield GaugeMetricFamily(f"{PREFIX}_recent_watcher_events", "Watcher events recorded in "
                                "the last 24 h", value=sum(
                                    n for k, n in kinds.items() if k.startswith(WATCH_EVENTS)))


class FlagsCollector:
    """Supplier-policy flags, counted by whoever already holds the assets
    (the dashboard keeps them in a short-lived snapshot: identity artifacts
    are not re-read at every scrape)."""

    def __init__(self, count: Callable[[], dict[str, int]]) -> None:
        self.count = count

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        flags = GaugeMetricFamily(f"{PREFIX}_supplier_flags", "Supplier-policy flags on "
                                  "devices, by rule", labels=["rule"])
        for rule, n in sorted(self.count().items()):
            flags.add_metric([rule], n)
        yield flags


class RunMetrics:
    """What the daemon itself sees, as counters and histograms in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(f"{PREFIX}_check_duration_seconds", "Seconds a device read "
                                  "took, by protocol, mode and whether it succeeded",
                                  ["protocol", "mode", "ok"], buckets=DURATION_BUCKETS,
                                  registry=registry)
        self.sweeps = Counter(f"{PREFIX}_sweeps", "Sweeps run by this process, by mode",
                              ["mode"], registry=registry)
        self.results = Counter(f"{PREFIX}_sweep_results", "Check results of this process's "
                               "sweeps, by outcome and mode", ["status", "mode"],
                               registry=registry)
        self.sink_failures = Counter(f"{PREFIX}_sink_failures", "Alerts a sink failed to "
                                     "deliver, by sink", ["sink"], registry=registry)

    def observe_read(self, device: Any, mode: Any, seconds: float, ok: bool) -> None:
        self.duration.labels(device.protocol, getattr(mode, "value", str(mode)),
                             "true" if ok else "false").observe(seconds)

    def observe_report(self, report: Any) -> None:
        """One SweepReport (the daemon's on_report)."""
        mode = report.mode.value
        self.sweeps.labels(mode).inc()
        for r in report.results:
            self.results.labels(r.status.value, mode).inc()
        if report.delivery is not None:
            for f in report.delivery.failures:
                self.sink_failures.labels(f.sink).inc()


def make_registry(*, run: bool = False) -> tuple[CollectorRegistry, RunMetrics | None]:
    """A registry for /metrics (``create_app`` adds the store's collectors)
    and, with ``run``, the daemon's own metrics, its read durations hooked into
    integrity.check.READ_OBSERVERS."""
    registry = CollectorRegistry(auto_describe=False)
    if not run:
        return registry, None
    from integrity import check

    metrics = RunMetrics(registry)
    check.READ_OBSERVERS.append(metrics.observe_read)
    return registry, metrics


def start_metrics_server(site: Any, bind_text: str, *, open_store: Callable[[Any], Any],
                         trust: Any, auth: Any = None) -> tuple[Any, RunMetrics]:
    """For ``run --metrics-bind``: /metrics and /healthz on their own port, in
    a background thread, with the dashboard's rules (auth off loopback, GET
    only).  ``open_store(site)``: the CLI's context manager; the exporter
    opens a store of its own (its thread must not share the daemon's
    connection).  ``trust``: the daemon's live trust store.  Returns (server, RunMetrics); ConfigError for a bad bind or
    an off-loopback bind without auth."""
    from integrity.web.app import create_app
    from integrity.web.server import Server, check_exposure, load_auth, parse_bind

    bind = parse_bind(bind_text, option="--metrics-bind")
    auth = auth or load_auth(None, None)  # $PLC_INTEGRITY_TOKEN, as serve
    hosts = check_exposure(bind, auth, option="--metrics-bind")
    opened = open_store(site)
    store = opened.__enter__()
    try:
        registry, metrics = make_registry(run=True)
        assert metrics is not None
        app = create_app(site, store, trust, auth=auth, allowed_hosts=hosts, metrics=registry,
                         pages=False)
        server = Server(app, bind, on_stop=lambda: opened.__exit__(None, None, None))
        return server.start(), metrics
    except BaseException:
        opened.__exit__(None, None, None)
        raise
