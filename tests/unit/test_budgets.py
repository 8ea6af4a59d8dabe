"""What sockets make the signaling server hold, budgeted across all of them."""

from bridge.signaling.budgets import (
    PICOWS_FIRST_READ_BUFFER,
    ReaderProgress,
    SocketBudget,
    read_buffer_for,
)


def test_a_budget_counts_what_each_socket_holds_now_against_one_limit() -> None:
    budget = SocketBudget(100, share=1)
    assert budget.fits(1, "a", 60)
    budget.hold(1, "a", 60)
    assert not budget.fits(2, "b", 50)  # 60 + 50
    assert budget.fits(1, "a", 100)  # instead of its own 60, not on top of it
    budget.hold(2, "b", 40)
    assert budget.total == 100 and sorted(budget.conns()) == [1, 2]
    budget.hold(1, "a", 0)
    budget.drop(2)
    assert budget.total == 0 and budget.conns() == [] and budget.held_by_range("a") == 0


def test_one_range_holds_at_most_its_share_of_a_budget() -> None:
    budget = SocketBudget(400, share=4)
    budget.hold(1, "a", 60)
    assert budget.fits(2, "a", 40)
    assert not budget.fits(2, "a", 41)  # a's quarter is 100
    assert budget.fits(2, "b", 100)
    budget.hold(2, "b", 100)
    assert budget.held_by_range("a") == 60 and budget.held_by_range("b") == 100


def test_room_is_made_by_closing_the_largest_idlest_holders_never_small_ones() -> None:
    budget = SocketBudget(400, share=2)  # 200 per range
    budget.hold(1, "a", 100, now=1.0)
    budget.hold(2, "a", 100, now=0.0)  # as large, idler
    budget.hold(3, "b", 100, now=0.0)
    budget.hold(4, "c", 50, now=0.0)
    assert budget.total == 350
    # 100 more for d: the full total costs one large idle holder, a's idler one first.
    assert budget.make_room(9, "d", 100) == [2]
    # Asking for more than anyone holds: nobody pays for it.
    assert budget.make_room(9, "d", 150) is None
    # A range over its share pays itself, even when the total has room.
    budget.drop(4)
    assert budget.make_room(5, "a", 60) == [2]
    # Holders smaller than what is asked never go.
    small = SocketBudget(100, share=1)
    small.hold(1, "a", 30)
    small.hold(2, "b", 70)
    assert small.make_room(3, "c", 50) == [2]
    assert small.make_room(3, "c", 80) is None


def test_a_reader_behind_that_takes_nothing_is_stalled_one_that_takes_some_is_not() -> None:
    progress = ReaderProgress()
    progress.behind(1, taken=1000, now=0.0)
    progress.behind(2, taken=1000, now=0.0)
    for now in (5.0, 10.0, 14.0):
        progress.behind(1, taken=1000, now=now)  # as far behind, nothing taken
        progress.behind(2, taken=1000 + int(now), now=now)  # flooded, but it reads
    assert progress.stalled(14.0, 15.0) == []
    assert progress.stalled(15.0, 15.0) == [1]
    progress.caught_up(1)
    assert progress.stalled(100.0, 15.0) == [2]


def test_read_buffers_double_until_a_frame_fits_in_nine_tenths() -> None:
    assert read_buffer_for(100) == PICOWS_FIRST_READ_BUFFER
    assert read_buffer_for(3000) == 2 * PICOWS_FIRST_READ_BUFFER
    assert read_buffer_for(65536) == 32 * PICOWS_FIRST_READ_BUFFER  # 73,728 bytes
    assert read_buffer_for(66500) == 64 * PICOWS_FIRST_READ_BUFFER
