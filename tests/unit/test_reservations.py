"""Reservations: the memory store, the file codec, and the owner-only files that carry them."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bridge.signaling.files import PrivateFileError, read_private, write_private
from bridge.signaling.reservation_file import ReservationFile
from bridge.signaling.reservations import (
    MemoryReservationStore,
    Reservation,
    ReservationFileError,
    decode_file,
    encode_file,
    token_digest,
)


def test_the_store_lapses_only_what_is_due_and_counts_per_address() -> None:
    store = MemoryReservationStore()
    store.put(Reservation("a", "d", 10.0, "1.1.1.1"))
    store.put(Reservation("b", "d", None, "1.1.1.1"))
    store.put(Reservation("a", "d", 20.0, "2.2.2.2"))  # replaced: the old expiry is stale
    assert store.count_for_ip("1.1.1.1") == 1 and store.count_for_ip("2.2.2.2") == 1
    assert store.lapse(15.0) == []
    assert [r.id for r in store.lapse(20.0)] == ["a"]
    assert store.count() == 1 and store.count_for_ip("2.2.2.2") == 0


def test_file_round_trip_keeps_digests_not_tokens_and_restarts_grace() -> None:
    salt = bytes(16)
    store = MemoryReservationStore(salt)
    store.put(Reservation("held", token_digest(salt, "secret-token"), None))
    store.put(Reservation("away", token_digest(salt, "t2"), 110.0))  # 10 s left at now=100
    store.put(Reservation("gone", token_digest(salt, "t3"), 99.0))
    text = encode_file(salt, store.snapshot(), now=100.0, wall_now=1_000_000.0)
    assert "secret-token" not in text
    # Restarted 4 s later with a fresh monotonic clock.
    loaded_salt, reservations = decode_file(text, now=5.0, wall_now=1_000_004.0, grace=60.0)
    assert loaded_salt == salt
    by_id = {r.id: r for r in reservations}
    assert set(by_id) == {"held", "away"}
    assert by_id["held"].until == 65.0  # a connected owner gets the whole grace from the restart
    assert by_id["away"].until == pytest.approx(11.0)  # what was left of it
    assert by_id["held"].token_digest == token_digest(salt, "secret-token")


def test_a_clock_jump_never_makes_a_reservation_outlast_the_grace() -> None:
    text = encode_file(bytes(16), [Reservation("away", "0" * 64, 10.0**9)], now=0.0, wall_now=0.0)
    _, [reservation] = decode_file(text, now=0.0, wall_now=0.0, grace=30.0)
    assert reservation.until == 30.0


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format": "something else"}',
        json.dumps({"format": "pathfinder-bridge/signaling-reservations", "version": 2}),
        json.dumps(
            {
                "format": "pathfinder-bridge/signaling-reservations",
                "version": 1,
                "salt": "00",
                "reservations": [],
            }
        ),
        json.dumps(
            {
                "format": "pathfinder-bridge/signaling-reservations",
                "version": 1,
                "salt": "00" * 16,
                "reservations": [{"id": "bad id!", "token_sha256": "0" * 64, "until": None}],
            }
        ),
        json.dumps(
            {
                "format": "pathfinder-bridge/signaling-reservations",
                "version": 1,
                "salt": "00" * 16,
                "reservations": [{"id": "a", "token_sha256": "plaintext", "until": None}],
            }
        ),
        json.dumps(
            {
                "format": "pathfinder-bridge/signaling-reservations",
                "version": 1,
                "salt": "00" * 16,
                "reservations": [{"id": "a", "token_sha256": "0" * 64, "until": "soon"}],
            }
        ),
    ],
)
def test_a_corrupt_file_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ReservationFileError):
        decode_file(text, now=0.0, wall_now=0.0, grace=60.0)


def test_private_files_are_0600_and_replace_a_symlink_without_following_it(
    tmp_path: Path,
) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    link = tmp_path / "state.json"
    link.symlink_to(target)
    write_private(link, "data")
    assert not link.is_symlink() and link.read_text() == "data"
    assert target.read_text() == "keep me"
    assert stat.S_IMODE(link.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "state.json"]


def test_reading_refuses_symlinks_shared_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert read_private(path, 100) is None
    write_private(path, "ok")
    assert read_private(path, 100) == "ok"
    with pytest.raises(PrivateFileError, match="larger than"):
        read_private(path, 1)
    os.chmod(path, 0o644)
    with pytest.raises(PrivateFileError, match="others may read"):
        read_private(path, 100)
    os.chmod(path, 0o600)
    link = tmp_path / "link.json"
    link.symlink_to(path)
    with pytest.raises(PrivateFileError, match="symbolic link"):
        read_private(link, 100)
    if os.getuid() == 0:  # only root can give a file away
        os.chown(path, 65534, 65534)
        with pytest.raises(PrivateFileError, match="owned by uid 65534"):
            read_private(path, 100)


def test_a_bad_file_is_reported_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "signal-9000.reservations.json"
    write_private(path, "{ not json")
    keeper = ReservationFile(path, grace=60.0, max_reservations=100)
    store = keeper.load()
    assert store.count() == 0
    assert "Ignored the reservation file" in caplog.text and "not valid JSON" in caplog.text
    store.put(Reservation("a", "0" * 64, None))
    keeper.save(store)
    assert json.loads(path.read_text())["reservations"][0]["id"] == "a"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_folder_others_can_write_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o777)
    ReservationFile(folder / "r.json", grace=60.0, max_reservations=10).load()
    assert "Others may replace or delete files in" in caplog.text
