"""The doctor's judgement (sans-I/O): what the probes observed, as plain data, turned into Checks
that say ok, or what the problem is and what to do.

One judge per item of Pathfinder's troubleshooting list (docs/developer/LIVE_SESSIONS.md):
"Cannot connect to PeerJS server" (signaling, page), "Attendee can't find presenter"
(presenter), "Show Me broadcasts but attendee doesn't see highlight" (Grafana, its login, its
selector table, the presenter's guide), "Peer connection failed" and "Connection drops
frequently" (STUN/TURN, the presenter's round trip).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs

from bridge.doctor.report import Check, Status

CANNOT_CONNECT = "Cannot connect to PeerJS server"
CANNOT_FIND = "Attendee can't find presenter"
NO_HIGHLIGHT = "Show Me broadcasts but attendee doesn't see highlight"
PEER_FAILED = "Peer connection failed / Connection drops frequently"


def skipped(check_id: str, title: str, topic: str, why: str) -> Check:
    return Check(check_id, title, topic, Status.SKIPPED, why)


# -- signaling server -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalingObservation:
    url: str
    key: str
    error: str = ""  # the server could not be reached at all
    description_status: int = 0  # GET {path}/
    is_peerjs: bool = False  # ...answered with PeerJS's description
    id_status: int = 0  # GET {path}/{key}/id
    peers_status: int = 0  # GET {path}/{key}/peers: 200 when discovery is on
    socket: str = ""  # "open", the server's ERROR text, or why the WebSocket failed
    http_ms: float = 0.0
    socket_ms: float = 0.0


def judge_signaling(obs: SignalingObservation) -> Check:
    title, figures = "Signaling server", {"http_ms": obs.http_ms, "websocket_ms": obs.socket_ms}

    def problem(summary: str, *advice: str) -> Check:
        return Check("signaling", title, CANNOT_CONNECT, Status.PROBLEM, summary, advice)

    if obs.error:
        return problem(
            f"cannot reach {obs.url}: {obs.error}",
            "start it (pathfinder-bridge signal start), or point --server (client.server_url) "
            "at the running one: http://HOST:PORT/PATH",
            "if it runs elsewhere, check firewalls and proxies between here and it",
        )
    if not obs.is_peerjs:
        return problem(
            f"{obs.url} answers HTTP {obs.description_status}, not as a PeerJS server",
            "check the path in --server: Pathfinder's server uses /pathfinder, and `signal` "
            "prints its URL when it starts",
        )
    if obs.id_status == 401 or "key" in obs.socket.lower():
        return problem(
            f"{obs.url} refuses the key {obs.key!r}",
            "use the key the server was started with (--key, client.key; Pathfinder's is "
            "pathfinder)",
        )
    if obs.socket != "open":
        return problem(
            f"{obs.url} answers over HTTP, but its WebSocket does not register peers: {obs.socket}",
            "a proxy in front of the server must pass WebSocket upgrades on PATH/peerjs",
        )
    discovery = (
        "discovery on: anyone can list the session ids"
        if obs.peers_status == 200
        else "discovery off"
    )
    advice = (
        ("turn allow_discovery off unless you need the list: 6-character ids are easy to find",)
        if obs.peers_status == 200
        else ()
    )
    return Check(
        "signaling",
        title,
        CANNOT_CONNECT,
        Status.OK,
        f"{obs.url} answers as a PeerJS server ({obs.http_ms:.0f} ms); key accepted; "
        f"a peer registers over its WebSocket ({obs.socket_ms:.0f} ms); {discovery}",
        advice,
        figures=figures,
    )


# -- Chromium ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChromiumObservation:
    executable: str  # the path, or "" for Playwright's own browser
    error: str = ""
    version: str = ""
    start_ms: float = 0.0
    sandbox_page: str = ""  # the text of chrome://sandbox
    as_root: bool = False


def sandboxed(sandbox_page: str) -> bool | None:
    """What chrome://sandbox says: True, False, or None when it says neither."""
    if "NOT adequately sandboxed" in sandbox_page:
        return False
    if "adequately sandboxed" in sandbox_page:
        return True
    return None


def judge_chromium(obs: ChromiumObservation) -> Check:
    title, topic = "Chromium", NO_HIGHLIGHT
    where = obs.executable or "Playwright's own Chromium"
    if obs.error:
        return Check(
            "chromium",
            title,
            topic,
            Status.PROBLEM,
            f"{where} does not start: {obs.error}",
            (
                "install Debian's chromium (apt-get install chromium), or set "
                "browser.executable_path (PATHFINDER_BRIDGE_BROWSER_EXECUTABLE_PATH)",
            ),
        )
    summary = f"Chromium {obs.version} at {where} starts ({obs.start_ms:.0f} ms)"
    state = sandboxed(obs.sandbox_page)
    figures = {"start_ms": obs.start_ms}
    if state is True:
        return Check("chromium", title, topic, Status.OK, f"{summary}; sandbox on", figures=figures)
    if obs.as_root:
        return Check(
            "chromium",
            title,
            topic,
            Status.OK,
            f"{summary}; sandbox off: running as root, where Chromium cannot run sandboxed",
            ("run as an ordinary user to have Chromium's sandbox",),
            figures=figures,
        )
    return Check(
        "chromium",
        title,
        topic,
        Status.PROBLEM,
        f"{summary}; sandbox off" + (" (chrome://sandbox says nothing)" if state is None else ""),
        (
            "remove --no-sandbox from browser.args: Chromium needs it only when run as root",
            "if Chromium then fails to start, its sandbox needs user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1) or the setuid helper",
        ),
        figures=figures,
    )


# -- Grafana ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrafanaObservation:
    url: str
    error: str = ""
    version: str = ""
    database: str = ""
    http_ms: float = 0.0
    configured_version: str = ""  # browser.grafana_version, which wins over what Grafana says
    selector_table: str = ""
    selector_package: str = ""


def judge_grafana(obs: GrafanaObservation) -> Check:
    title, topic = "Grafana", NO_HIGHLIGHT
    if obs.error:
        return Check(
            "grafana",
            title,
            topic,
            Status.PROBLEM,
            obs.error,
            ("check --grafana: the URL you open Grafana at, with any sub-path",),
        )
    version = obs.configured_version or obs.version
    source = "browser.grafana_version" if obs.configured_version else "/api/health"
    summary = (
        f"Grafana {version or '(version hidden)'} at {obs.url} ({obs.http_ms:.0f} ms"
        + (f", database {obs.database}" if obs.database else "")
        + ")"
    )
    details = (
        f"version from {source}; selectors: the table of Grafana {obs.selector_table} "
        f"(@grafana/e2e-selectors {obs.selector_package})",
    )
    advice: tuple[str, ...] = ()
    if not version:
        advice = (
            "Grafana hides its version here; attendees read it from the page, or set "
            "browser.grafana_version",
        )
    if obs.database and obs.database != "ok":
        return Check(
            "grafana",
            title,
            topic,
            Status.PROBLEM,
            f"{summary}: its database is {obs.database}",
            ("Grafana itself is unwell: look at its server log",),
            details,
        )
    return Check(
        "grafana",
        title,
        topic,
        Status.OK,
        f"{summary}; selector table {obs.selector_table}",
        advice,
        details,
        {"http_ms": obs.http_ms},
    )


@dataclass(frozen=True)
class LoginObservation:
    login: str  # GrafanaLogin.describe(): never a secret
    who: str = ""
    error: str = ""


def judge_login(obs: LoginObservation) -> Check:
    title, topic = "Grafana login", NO_HIGHLIGHT
    if obs.error:
        return Check(
            "grafana-login",
            title,
            topic,
            Status.PROBLEM,
            f"{obs.login}: does not sign in",
            (obs.error,),
        )
    who = (
        "no login needed (anonymous access)"
        if obs.who == "anonymous"
        else f"signed in as {obs.who}"
    )
    return Check("grafana-login", title, topic, Status.OK, f"{obs.login}: {who}")


# -- a Grafana page reaching the signaling server ---------------------------------------------


@dataclass(frozen=True)
class PageObservation:
    grafana_url: str
    signaling_url: str
    error: str = ""  # the page could not be opened at all
    page_origin: str = ""
    secure_context: bool = False
    web_crypto: bool = False
    fetch_status: int = 0
    fetch_error: str = ""
    socket: str = ""  # the first WebSocket message, or "error", "timeout", "closed CODE"
    socket_ms: float = 0.0
    console: tuple[str, ...] = field(default=())  # console errors and failed requests


_LOCAL_NETWORK_ACCESS = ("address space", "LOCAL_NETWORK_ACCESS", "Private Network Access")


def judge_page(obs: PageObservation) -> Check:
    title, topic = "Grafana page to signaling server", CANNOT_CONNECT
    if obs.error:
        return Check(
            "page",
            title,
            topic,
            Status.PROBLEM,
            f"Chromium cannot open {obs.grafana_url}: {obs.error}",
            ("check --grafana, and that this machine's browser can open it",),
        )
    console = "\n".join(obs.console)
    reached = 200 <= obs.fetch_status < 300 and obs.socket.startswith('{"type":"OPEN"')
    problems: list[str] = []
    advice: list[str] = []
    if not reached:
        if any(marker in console for marker in _LOCAL_NETWORK_ACCESS):
            problems.append(
                f"Chromium blocks pages of {obs.page_origin} from reaching {obs.signaling_url}: "
                "Local Network Access (a page from a more public address space may not reach a "
                "private or loopback one)"
            )
            advice.append(
                "serve Grafana and the signaling server from the same kind of address: both on "
                "127.0.0.1/localhost for local use, or both on real hosts with TLS; never a "
                "public page talking to 127.0.0.1"
            )
        elif "Mixed Content" in console:
            problems.append(
                f"{obs.page_origin} is https and {obs.signaling_url} is not: Chromium blocks "
                "mixed content"
            )
            advice.append("serve the signaling server over TLS too (signal --tls-cert/--tls-key)")
        elif "CORS" in console or obs.socket.startswith("closed") or "403" in console:
            problems.append(f"{obs.signaling_url} does not let pages of {obs.page_origin} in")
            advice.append(
                f"add {obs.page_origin} to server.allowed_origins of the signaling server"
            )
        elif '"type":"ERROR"' in obs.socket:
            problems.append(f"the signaling server refused the page: {obs.socket[:200]}")
            advice.append("see the Signaling server check")
        else:
            if obs.fetch_error:
                reason = obs.fetch_error
            elif not 200 <= obs.fetch_status < 300:
                reason = f"HTTP {obs.fetch_status}"
            else:
                reason = f"WebSocket: {obs.socket or 'no answer'}"
            problems.append(
                f"a page of {obs.page_origin} cannot reach {obs.signaling_url}: {reason}"
            )
            advice.append(
                "check what stands between browsers and the server (firewall, proxy); the "
                "browser console of a Grafana tab shows the reason"
            )
    if not (obs.secure_context and obs.web_crypto):
        problems.append(
            f"{obs.page_origin} is not a secure context: WebCrypto is missing, so attendees "
            "cannot verify presenters"
        )
        advice.append("serve Grafana over https (plain http works only on localhost/127.0.0.1)")
    details = tuple(line[:300] for line in obs.console[:5])
    figures = {"websocket_ms": obs.socket_ms}
    if problems:
        summary = "; ".join(problems)
        return Check("page", title, topic, Status.PROBLEM, summary, tuple(advice), details, figures)
    return Check(
        "page",
        title,
        topic,
        Status.OK,
        f"a page of {obs.page_origin} reaches {obs.signaling_url} (fetch {obs.fetch_status}, "
        f"WebSocket open in {obs.socket_ms:.0f} ms); secure context with WebCrypto",
        figures=figures,
    )


# -- the presenter of a join code ------------------------------------------------------------


@dataclass(frozen=True)
class PresenterObservation:
    session_id: str
    legacy: bool = False  # a bare id: no key to check the presenter against
    found: bool = False
    error: str = ""
    connect_ms: float = 0.0
    verify_ms: float = 0.0
    verified: bool = False
    session_name: str = ""
    guide: str = ""


def judge_presenter(obs: PresenterObservation) -> Check:
    title, topic = f"Presenter of session {obs.session_id}", CANNOT_FIND
    figures = {"connect_ms": obs.connect_ms, "verify_ms": obs.verify_ms}
    if not obs.found:
        return Check(
            "presenter",
            title,
            topic,
            Status.PROBLEM,
            f"no session {obs.session_id!r} on this signaling server",
            (
                "check the join code, that the presenter still runs, and that both use the same "
                "--server and key (a presenter gone for over alive_timeout is dropped)",
            ),
        )
    if obs.error:
        advice = _presenter_advice(obs)
        return Check("presenter", title, topic, Status.PROBLEM, obs.error, advice, figures=figures)
    identity = (
        "a bare session id carries no key, so it cannot be verified"
        if obs.legacy
        else f"passes the identity check ({obs.verify_ms:.0f} ms)"
    )
    guide = f"on guide {obs.guide}" if obs.guide else "no guide open yet"
    name = f" {obs.session_name!r}" if obs.session_name else ""
    return Check(
        "presenter",
        title,
        topic,
        Status.OK,
        f"session{name} answers ({obs.connect_ms:.0f} ms to open a channel), {identity}; {guide}",
        ("ask the presenter for a join code with a key (Pathfinder 2.16 or later)",)
        if obs.legacy
        else (),
        figures=figures,
    )


def _presenter_advice(obs: PresenterObservation) -> tuple[str, ...]:
    if "identity check" in obs.error:
        return ("someone else holds this session id: ask the presenter for a fresh join code",)
    if obs.connect_ms == 0:
        return (
            "the session exists but no data channel opened: peers need a network path to each "
            "other (see STUN/TURN servers); relay-only networks need a TURN server",
        )
    return ("the presenter's process may be stuck: ask them to restart it with --session-file",)


# -- STUN and TURN servers -------------------------------------------------------------------


@dataclass(frozen=True)
class IceUrl:
    """One `stun:`/`turn:` URL of client.ice_servers (RFC 7064/7065)."""

    scheme: str
    host: str
    port: int
    transport: str  # "udp" or "tcp"

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")

    @property
    def tls(self) -> bool:
        return self.scheme in ("stuns", "turns")

    @classmethod
    def parse(cls, url: str) -> IceUrl:
        scheme, _, rest = url.partition(":")
        if scheme not in ("stun", "stuns", "turn", "turns") or not rest:
            raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
        address, _, query = rest.partition("?")
        transports = parse_qs(query).get("transport", [])
        transport = transports[0].lower() if transports else ""
        if transport not in ("", "udp", "tcp"):
            raise ValueError(f"{url!r}: transport must be udp or tcp")
        tls = scheme in ("stuns", "turns")
        if address.startswith("["):
            host, _, after = address[1:].partition("]")
            port_text = after.removeprefix(":")
        else:
            host, _, port_text = address.partition(":")
        if not host:
            raise ValueError(f"{url!r} names no host")
        try:
            port = int(port_text) if port_text else (5349 if tls else 3478)
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port") from None
        if not 0 < port < 65536:
            raise ValueError(f"{url!r} has an invalid port")
        return cls(scheme, host, port, transport or ("tcp" if tls else "udp"))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = f"?transport={self.transport}" if self.is_turn else ""
        return f"{self.scheme}:{host}:{self.port}{suffix}"


@dataclass(frozen=True)
class IceServerObservation:
    url: str
    error: str = ""  # no answer, refused credentials, unresolvable host...
    binding_ms: float | None = None  # one STUN Binding round trip
    relay_ms: float | None = None  # a TURN allocation with the credentials (TURN only)
    needs_credentials: bool = False  # a TURN URL without username or credential


def judge_ice(servers: list[IceServerObservation]) -> Check:
    title, topic = "STUN/TURN servers", PEER_FAILED
    if not servers:
        return Check(
            "ice",
            title,
            topic,
            Status.OK,
            "none configured: peers connect over host addresses only (one machine or one LAN)",
            (
                "across networks, list STUN and TURN servers in client.ice_servers "
                "(config.yaml); relay-only networks need TURN",
            ),
        )
    lines, advice, figures = [], [], {}
    for server in servers:
        if server.error:
            lines.append(f"{server.url}: {server.error}")
            advice.append(_ice_advice(server))
            continue
        parts = []
        if server.binding_ms is not None:
            parts.append(f"answers in {server.binding_ms:.1f} ms")
            figures[f"{server.url} binding_ms"] = server.binding_ms
        if server.relay_ms is not None:
            parts.append(f"relay allocated with the credentials in {server.relay_ms:.1f} ms")
            figures[f"{server.url} relay_ms"] = server.relay_ms
        lines.append(f"{server.url}: {', '.join(parts) or 'not checked (STUN over TCP or TLS)'}")
    failed = [s for s in servers if s.error]
    status = Status.PROBLEM if failed else Status.OK
    summary = (
        f"{len(failed)} of {len(servers)} do not work"
        if failed
        else f"{len(servers)} answer{'s' if len(servers) == 1 else ''}"
    )
    return Check(
        "ice", title, topic, status, summary, tuple(dict.fromkeys(advice)), tuple(lines), figures
    )


def _ice_advice(server: IceServerObservation) -> str:
    error = server.error.lower()
    if server.needs_credentials or "401" in error or "unauthorized" in error:
        return "check username and credential of that TURN server in client.ice_servers"
    if "resolve" in error or "name" in error:
        return "check the host name of that server in client.ice_servers"
    return (
        "no answer: a firewall may block it (UDP 3478); try turn:HOST:443?transport=tcp or "
        "turns: where only TCP/TLS gets out"
    )
