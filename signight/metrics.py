"""Prometheus metrics of this process (GET /metrics on either port).

One process, one scrape: in Kubernetes every pod runs one server process (WEB_CONCURRENCY=1)
and Prometheus scrapes each pod. With `serve --workers N`, a scrape reaches one worker only.
Every sample carries the server's version (SIGNIGHT_VERSION) as a `version` label, and
signight_build_info{version} is 1, so that a canary can be judged against the stable version
(issue 16) wherever it is scraped from, relabelling or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

CONTENT_TYPE = CONTENT_TYPE_LATEST

registry = CollectorRegistry(auto_describe=True)

CONNECTED_CLIENTS = Gauge(
    "signight_connected_clients", "Open game sockets on this process", registry=registry
)
ACTIVE_ROOMS = Gauge(
    "signight_active_rooms", "Rooms with at least one player, cluster-wide", registry=registry
)
LOCAL_ROOMS = Gauge("signight_local_rooms", "Rooms with players on this process", registry=registry)
MESSAGES_IN = Counter(
    "signight_messages_in", "Client messages received, by type", ["type"], registry=registry
)
FRAMES_OUT = Counter(
    "signight_frames_out", "Frames sent to clients, by type", ["type"], registry=registry
)
ERRORS = Counter(
    "signight_errors", "Error frames and error closes, by code", ["code"], registry=registry
)
CHAT_PERSISTED = Counter(
    "signight_chat_messages_persisted", "Chat messages written to MongoDB", registry=registry
)
RESUMES = Counter(
    "signight_resumes",
    "Resumes answered: recovered (missed nothing), reset (the whole room instead), or refused",
    ["outcome"],
    registry=registry,
)
PLAYERS_AWAY = Counter(
    "signight_players_away",
    "Players left away (resumable): their socket ended without a Leave, or their process died",
    registry=registry,
)
EVENTS_FILLED = Counter(
    "signight_room_events_filled",
    "Room events read from a room's log to close a gap (their publish was late or lost)",
    registry=registry,
)
TICK_SECONDS = Histogram(
    "signight_tick_duration_seconds",
    "Time to deliver one tick's StateUpdate frames to local sockets",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
    registry=registry,
)
PEER_BATCH_LAG = Histogram(
    "signight_peer_batch_lag_seconds",
    "From a tick's wall-clock time to the arrival of another process's batch for that tick",
    buckets=(0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0),
    registry=registry,
)
GATHER_TIMEOUTS = Counter(
    "signight_gather_timeouts",
    "Ticks delivered without every awaited batch of other processes (GATHER_MAX_SECONDS)",
    registry=registry,
)
DEPENDENCY_UP = Gauge(
    "signight_dependency_up", "1 if the backing service answers", ["service"], registry=registry
)

BUILD = Info(
    "signight_build",
    "This server's build (the `version` label is on every sample)",
    registry=registry,
)
BUILD.info({})

OUT_STATE_UPDATE = FRAMES_OUT.labels("StateUpdate")


# Gauges that an app reads at scrape time register a collector here (the base imports no app);
# each gets {"redis": up, "mongodb": up} so it can skip a service that is down.
Collector = Callable[[Mapping[str, bool]], None]
_collectors: list[Collector] = []


def on_scrape(collector: Collector) -> None:
    _collectors.append(collector)


class Versioned:
    """The registry's metrics, each sample with a `version` label added."""

    def __init__(self, version: str) -> None:
        self.version = version

    def collect(self) -> Iterator[Metric]:
        for family in registry.collect():
            family.samples = [
                sample._replace(labels={**sample.labels, "version": self.version})
                for sample in family.samples
            ]
            yield family


def render(dependencies: Mapping[str, bool], version: str) -> bytes:
    for collector in _collectors:
        collector(dependencies)
    return generate_latest(Versioned(version))  # anything with collect() is a registry to it
