"""App config of rooms: rooms and the live players in them. ready() registers the room hub with
the base layer's hooks (drain, shutdown, readiness, metrics): signight imports no app."""

from __future__ import annotations

from collections.abc import Mapping

from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"

    def ready(self) -> None:
        from rooms import presence, protocol
        from rooms.hub import hub
        from signight import lifecycle, metrics

        async def hand_over(period: float) -> None:
            await hub.drain(period, protocol.CloseCode.GOING_AWAY, lifecycle.DRAIN_REASON)

        def gauges(dependencies: Mapping[str, bool]) -> None:
            metrics.CONNECTED_CLIENTS.set(hub.connection_count)
            metrics.LOCAL_ROOMS.set(len(hub.rooms))
            if dependencies.get("redis"):
                metrics.ACTIVE_ROOMS.set(presence.room_count())

        lifecycle.on_drain(hand_over)
        lifecycle.on_shutdown(hub.stop)
        lifecycle.add_readiness_check("hub", hub.healthy)
        metrics.on_scrape(gauges)
