"""The sanctions as a process keeps them (rooms.sanctions): bans until a time or for ever, mutes in
one room until a time, and kicks that void the resume tokens issued before them."""

from __future__ import annotations

import pytest

from rooms.sanctions import Muted, Row, Sanctions
from signight.auth import client_id_for

NOW = 1_800_000_000.0


def test_a_ban_holds_until_its_time_or_for_ever() -> None:
    sanctions = Sanctions()
    sanctions.add(Row("ban", "carol", created=NOW, until=NOW + 60))
    sanctions.add(Row("ban", "dave", created=NOW))
    assert sanctions.banned("carol", NOW + 59) and not sanctions.banned("carol", NOW + 60)
    assert sanctions.banned("dave", NOW + 10**9)
    assert not sanctions.banned("erin", NOW)


def test_an_unban_lifts_the_ban() -> None:
    sanctions = Sanctions()
    sanctions.add(Row("ban", "carol", created=NOW))
    sanctions.unban("carol")
    assert not sanctions.banned("carol", NOW)


def test_a_ban_also_voids_the_subjects_resume_tokens_issued_before_it() -> None:
    sanctions = Sanctions()
    sanctions.add(Row("ban", "carol", created=NOW))
    assert sanctions.resume_void(client_id_for("carol"), issued_at=NOW - 1)
    assert not sanctions.resume_void(client_id_for("carol"), issued_at=NOW + 1)


def test_a_kick_voids_the_resume_tokens_issued_before_it_only() -> None:
    sanctions = Sanctions()
    sanctions.add(Row("kick", "c-1", created=NOW))
    assert sanctions.resume_void("c-1", issued_at=NOW)
    assert not sanctions.resume_void("c-1", issued_at=NOW + 0.5)
    assert not sanctions.resume_void("c-2", issued_at=NOW - 100)


def test_a_mute_holds_in_its_room_until_its_time() -> None:
    sanctions = Sanctions()
    sanctions.add(Row("mute", "c-1", room_id="lobby", created=NOW, until=NOW + 300))
    assert sanctions.muted_until("lobby", "c-1", NOW + 299) == NOW + 300
    assert sanctions.muted_until("lobby", "c-1", NOW + 300) is None
    assert sanctions.muted_until("arena", "c-1", NOW) is None


def test_a_muted_chat_is_refused_with_the_end_in_iso_8601_utc() -> None:
    sanctions = Sanctions()
    sanctions.add(Row("mute", "c-1", room_id="lobby", created=NOW, until=4_102_444_800.0))
    with pytest.raises(Muted) as refused:
        sanctions.check_chat("lobby", "c-1")
    assert refused.value.code == "muted"
    assert refused.value.until == "2100-01-01T00:00:00.000Z"
    sanctions.check_chat("arena", "c-1")  # another room: allowed


def test_a_reload_replaces_everything_known() -> None:
    sanctions = Sanctions()
    sanctions.add(Row("ban", "carol", created=NOW))
    sanctions.replace([Row("mute", "c-1", room_id="lobby", created=NOW, until=NOW + 60)], 1.0)
    assert not sanctions.banned("carol", NOW)
    assert sanctions.muted_until("lobby", "c-1", NOW) == NOW + 60
    assert sanctions.loaded_at == 1.0
