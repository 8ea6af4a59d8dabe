"""What the presenter's terminal shows of its attendees: escaped, throttled, deduplicated."""

from __future__ import annotations

from bridge.commands.terminal import NoticePrinter, NoticeThrottle, notice_line
from bridge.session.presenter import Attendee, Notice, NoticeKind


def attendee(conn: str, name: str) -> Attendee:
    return Attendee(conn, "peer-" + conn, 0.0, name=name)


def test_notice_lines_escape_names_and_details() -> None:
    mallory = attendee("c1", "Mal\x1b]0;owned\x07\n+ Eve joined (follow mode)")
    line = notice_line(Notice(NoticeKind.CHAT, mallory, "hi\x1b[2J\x1b]52;c;ZXZpbA==\x07"))
    assert "\x1b" not in line and "\n" not in line and "\x07" not in line
    assert line.startswith("> Mal\\x1b]0;owned")


def test_twenty_thousand_hand_raises_print_a_handful_of_lines() -> None:
    lines: list[str] = []
    clock = [0.0]
    printer = NoticePrinter(clock=lambda: clock[0], write=lines.append)
    flooder = attendee("c1", "Mallory")
    for i in range(20_000):
        clock[0] = i * 1.2 / 20_000  # 20,000 in 1.2 s, as the review sent them
        printer(Notice(NoticeKind.HAND_RAISED, flooder, "raised" if i % 2 else "lowered"))
    assert 1 <= len(lines) <= 8
    # Another attendee still gets through, with a count of what was held back.
    clock[0] = 1.3
    printer(Notice(NoticeKind.JOINED, attendee("c2", "Ada"), "guided"))
    assert lines[-1] == "+ Ada joined (guided mode)"
    assert lines[-2].startswith("! ") and "not shown" in lines[-2]


def test_repeats_are_shown_once_per_window() -> None:
    throttle = NoticeThrottle(repeat_window=10.0)
    ada = attendee("c1", "Ada")
    notice = Notice(NoticeKind.HAND_RAISED, ada, "raised")
    assert throttle.allow(notice, 0.0)
    assert not throttle.allow(notice, 5.0)
    assert throttle.allow(Notice(NoticeKind.HAND_RAISED, ada, "lowered"), 5.0)
    assert throttle.allow(notice, 10.5)
    assert throttle.take_suppressed() == 1


def test_replay_results_repeat_on_purpose_and_have_their_own_budget() -> None:
    # A step's show_me and do_it both report "ok (step s1)": the presenter sees both, and a
    # hand raise or chat from the same attendee does not eat the budget of its results.
    throttle = NoticeThrottle(per_connection_burst=6.0, results_burst=20.0)
    ada = attendee("c1", "Ada")
    for i in range(6):
        assert throttle.allow(Notice(NoticeKind.CHAT, ada, f"hi {i}"), 0.0)
    result = Notice(NoticeKind.STATUS, ada, "ok (step s1)")
    assert throttle.allow(result, 0.0) and throttle.allow(result, 0.1)
    shown = sum(throttle.allow(result, 0.1) for _ in range(100))
    assert shown == 18  # the rest of the burst: a flood of results is still held back


def test_the_overall_rate_holds_across_many_connections() -> None:
    throttle = NoticeThrottle(overall=10.0, overall_burst=30.0)
    shown = sum(
        throttle.allow(Notice(NoticeKind.JOINED, attendee(f"c{i}", "x"), "guided"), i / 1000)
        for i in range(1000)
    )
    assert 30 <= shown <= 40  # the burst, plus what one second (10/s) refills
    assert len(throttle._last_shown) <= throttle.max_remembered
