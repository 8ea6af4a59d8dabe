"""What sockets make the signaling server hold, budgeted across all of them."""

from bridge.signaling.budgets import PICOWS_FIRST_READ_BUFFER, SocketBudget, read_buffer_for


def test_a_budget_counts_what_each_socket_holds_now_against_one_limit() -> None:
    budget = SocketBudget(100)
    assert budget.fits(1, 60)
    budget.hold(1, 60)
    assert not budget.fits(2, 50)  # 60 + 50
    assert budget.fits(1, 100)  # instead of its own 60, not on top of it
    budget.hold(2, 40)
    assert budget.total == 100 and sorted(budget.conns()) == [1, 2]
    budget.hold(1, 0)
    budget.drop(2)
    assert budget.total == 0 and budget.conns() == []


def test_read_buffers_double_until_a_frame_fits_in_nine_tenths() -> None:
    assert read_buffer_for(100) == PICOWS_FIRST_READ_BUFFER
    assert read_buffer_for(3000) == 2 * PICOWS_FIRST_READ_BUFFER
    assert read_buffer_for(65536) == 32 * PICOWS_FIRST_READ_BUFFER  # 73,728 bytes
    assert read_buffer_for(66500) == 64 * PICOWS_FIRST_READ_BUFFER
