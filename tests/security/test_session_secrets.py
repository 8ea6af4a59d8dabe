"""Issue 9, item 9, the presenter's secrets: its session file and the Grafana password.

`--session-file` holds the session's private key: it used to be written through a dangling
symbolic link planted at its path, and loaded whoever owned it and whoever could read it.
`--password` shows in /proc/*/cmdline to every local user.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path

from bridge.session.session_file import PresenterIdentity
from tests.conftest import UNIT
from tests.servers import ROOT, bridge_command

NOWHERE = "http://127.0.0.1:9/pathfinder"  # nothing listens: the presenter stops after the file


def present(*args: str) -> subprocess.CompletedProcess[str]:
    command = bridge_command("present", "--no-browser", "--server", NOWHERE, *args)
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
        stdin=subprocess.DEVNULL,
    )


def test_the_key_is_never_written_through_a_planted_link(tmp_path: Path) -> None:
    target = tmp_path / "attacker-readable" / "stolen-key.json"
    target.parent.mkdir()
    link = tmp_path / "session.json"
    link.symlink_to(target)  # dangling: the presenter would create the target
    result = present("--session-file", str(link))
    assert result.returncode == 1
    assert "is a symbolic link" in result.stderr
    assert not target.exists()


def test_a_new_session_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "session.json"
    present("--session-file", str(path))  # fails later, at the unreachable server
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600


def test_a_shared_or_foreign_session_file_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared.json"
    PresenterIdentity.new().save(shared)
    shared.chmod(0o644)
    result = present("--session-file", str(shared))
    assert result.returncode == 1
    assert "can be read or written by group or others" in result.stderr
    assert "chmod 600" in result.stderr

    foreign = tmp_path / "foreign.json"
    PresenterIdentity.new().save(foreign)
    if os.getuid() == 0:
        os.chown(foreign, 65534, 65534)  # nobody's
    else:
        foreign = Path("/etc/hostname")  # root's, and readable
    result = present("--session-file", str(foreign))
    assert result.returncode == 1
    assert "belongs to another user" in result.stderr


def test_password_advice_in_help_and_a_warning_for_the_flag() -> None:
    help_text = subprocess.run(
        bridge_command("present", "--help"), cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(help_text.split())
    assert "GRAFANA_PASSWORD" in flat and "process list" in flat
    # It stops at the unreachable server, before any browser starts.
    command = bridge_command("present", "--server", NOWHERE, "--user", "a", "--password", "pw")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30 * UNIT)
    assert result.returncode == 1
    assert "--password is visible to other users" in result.stderr


def test_a_user_without_a_password_is_asked_on_the_terminal() -> None:
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        bridge_command("present", "--server", NOWHERE, "--user", "admin"),
        cwd=ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=controlling_terminal,
        env={k: v for k, v in os.environ.items() if k != "GRAFANA_PASSWORD"},
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 30 * UNIT
        while b"Grafana password for admin" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 4096)
        assert b"Grafana password for admin" in seen
        os.write(master, b"\x04")  # Ctrl-D: nothing typed
        assert process.wait(30 * UNIT) == 1
        while select.select([master], [], [], 0.2)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        assert b"sign-in cancelled" in seen
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def test_a_signed_in_browser_is_not_exposed_to_every_local_process() -> None:
    """Red-team finding 9: with --remote-debugging-port, any local process (any user)
    attached to the attendee's browser and read its Grafana token. With a login, the port
    is refused unless the user says every local user may have it."""
    import os
    import socket

    from bridge.protocol.crypto import PresenterKey
    from bridge.protocol.joincode import JoinCode
    from tests.servers import free_port

    code = JoinCode("abc123", "w", "", PresenterKey.generate().public_key).encode()
    port = free_port()
    runs = {
        "follow with GRAFANA_TOKEN": (
            ["follow", code, "--grafana", "http://127.0.0.1:9", "--server", NOWHERE],
            {"GRAFANA_TOKEN": "glsa_secret_0123456789"},
        ),
        "present with a password": (
            ["present", "--grafana", "http://127.0.0.1:9", "--server", NOWHERE, "--user", "a"],
            {"GRAFANA_PASSWORD": "secret"},
        ),
    }
    for what, (args, env) in runs.items():
        result = subprocess.run(
            bridge_command(*args, "--headless", "--remote-debugging-port", str(port)),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60 * UNIT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        assert result.returncode != 0, what
        assert "--allow-remote-debugging-with-login" in result.stderr, what
        assert "glsa_secret" not in result.stderr + result.stdout
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"{what}: a browser listens"
    help_text = subprocess.run(
        bridge_command("follow", "--help"), cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "of any user" in " ".join(help_text.split())


def test_a_remote_debugging_port_in_browser_args_is_refused_with_a_login(tmp_path: Path) -> None:
    """A second review passed the port through a config file's browser.args instead of the
    flag, and read the follower's token over CDP."""
    import socket

    from bridge.protocol.crypto import PresenterKey
    from bridge.protocol.joincode import JoinCode
    from tests.servers import free_port

    code = JoinCode("abc123", "w", "", PresenterKey.generate().public_key).encode()
    port = free_port()
    config = tmp_path / "workshop.yaml"
    # Chromium takes one dash as well as two.
    config.write_text(f'browser:\n  args: ["-remote-debugging-port={port}"]\n')
    command = ["follow", code, "--grafana", "http://127.0.0.1:9", "--server", NOWHERE]
    result = subprocess.run(
        bridge_command(*command, "--headless", "--config", str(config)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60 * UNIT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "GRAFANA_TOKEN": "glsa_secret_0123456789"},
    )
    assert result.returncode != 0
    assert "browser.args" in result.stderr
    assert "--allow-remote-debugging-with-login" in result.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "a browser listens"


def test_a_config_yaml_in_the_working_directory_is_not_read(tmp_path: Path) -> None:
    """A folder someone else prepared (a review's: a workshop repository) used to configure
    the command run in it: browser.executable_path ran the review's script. Only a file the
    user names, or the user's own, is read."""
    folder = tmp_path / "workshop"
    folder.mkdir()
    marker = tmp_path / "ran"
    script = folder / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    (folder / "config.yaml").write_text(
        f"server:\n  alive_timeout: soon\nbrowser:\n  executable_path: {script}\n"
    )
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATHFINDER_BRIDGE_")}
    env |= {"XDG_CONFIG_HOME": str(home)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            bridge_command(*args),
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60 * UNIT,
            stdin=subprocess.DEVNULL,
            env=env,
        )

    ignored = run("doctor", "--server", NOWHERE, "--json")
    assert "alive_timeout" not in ignored.stderr
    assert not marker.exists(), "the working directory's browser.executable_path ran"
    # The same file as the user's own config (or named) is read: the check above can fail.
    (home / "pathfinder-bridge").mkdir(parents=True)
    (home / "pathfinder-bridge" / "config.yaml").write_text("server:\n  alive_timeout: soon\n")
    own = run("present", "--no-browser", "--server", NOWHERE)
    assert own.returncode == 1 and "server.alive_timeout" in own.stderr
    named = run("present", "--no-browser", "--server", NOWHERE, "--config", "config.yaml")
    assert named.returncode == 1 and "server.alive_timeout" in named.stderr
