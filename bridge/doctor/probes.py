"""The doctor's observations (I/O): each probe looks at one real thing, within the time limit,
and returns what it saw as an observation for `checks.py` to judge. Probes never raise for
what they find; they clean up whatever they opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import ssl
import time
import urllib.error
import urllib.request
from importlib import resources
from typing import TYPE_CHECKING, Any

from bridge.config import Config, IceServerConfig
from bridge.doctor.checks import (
    ChromiumObservation,
    GrafanaObservation,
    IceServerObservation,
    IceUrl,
    LoginObservation,
    PageObservation,
    PresenterObservation,
    SignalingObservation,
)
from bridge.errors import BridgeError
from bridge.grafana.login import GrafanaLogin
from bridge.protocol.joincode import JoinCode
from bridge.transport.endpoint import SignalingEndpoint

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

#: The in-page probe: a fixed file that receives the URLs as arguments.
PAGE_PROBE = resources.files("bridge.browser").joinpath("js", "reach_signaling.js")
DOCTOR_NAME = "pathfinder-bridge doctor"


def _ms(since: float) -> float:
    return (time.monotonic() - since) * 1000


def _http_get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(64 * 1024)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return str(text)[:300]


class DoctorProbes:
    """Every probe of one doctor run: its configuration and the patience of each network wait."""

    def __init__(self, config: Config, *, timeout: float) -> None:
        self.config = config
        self.timeout = timeout

    # -- signaling --------------------------------------------------------------------------

    async def signaling(self, endpoint: SignalingEndpoint) -> SignalingObservation:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        from bridge.protocol.peerjs import MessageType, ServerMessage

        url, key = endpoint.http_base, endpoint.key
        started = time.monotonic()
        try:
            status, body = await asyncio.to_thread(_http_get, f"{url}/", self.timeout)
        except (OSError, ValueError) as exc:
            return SignalingObservation(url, key, error=_reason(exc))
        http_ms = _ms(started)
        try:
            import json

            description = json.loads(body)
        except ValueError:
            description = None
        is_peerjs = isinstance(description, dict) and description.get("name") == "PeerJS Server"
        if not is_peerjs:
            return SignalingObservation(url, key, description_status=status, http_ms=http_ms)
        id_status, _ = await asyncio.to_thread(_http_get, endpoint.id_url(), self.timeout)
        peers_url = endpoint.id_url().removesuffix("/id") + "/peers"
        peers_status, _ = await asyncio.to_thread(_http_get, peers_url, self.timeout)
        started = time.monotonic()
        socket = ""
        ssl_context = ssl.create_default_context() if endpoint.secure else None
        websocket_url = endpoint.websocket_url(
            f"doctor-{secrets.token_hex(6)}", secrets.token_hex(8)
        )
        try:
            async with asyncio.timeout(self.timeout):
                async with connect(websocket_url, ssl=ssl_context, compression=None) as ws:
                    message = ServerMessage.parse(str(await ws.recv()))
            if message.type is MessageType.OPEN:
                socket = "open"
            else:
                socket = message.error_text or str(message.type)
        except TimeoutError:
            socket = f"no answer within {self.timeout:g} s"
        except InvalidStatus as exc:
            socket = f"HTTP {exc.response.status_code} on the WebSocket upgrade"
        except (OSError, WebSocketException, BridgeError) as exc:
            socket = _reason(exc)
        return SignalingObservation(
            url,
            key,
            description_status=status,
            is_peerjs=True,
            id_status=id_status,
            peers_status=peers_status,
            socket=socket,
            http_ms=http_ms,
            socket_ms=_ms(started),
        )

    # -- Chromium, and a Grafana page inside it --------------------------------------------------

    async def browser(
        self,
        grafana_url: str | None,
        login: GrafanaLogin,
        endpoint: SignalingEndpoint,
    ) -> tuple[ChromiumObservation, PageObservation | None]:
        from bridge.browser.chromium import find_chromium
        from bridge.browser.launch import AgentBrowser

        try:
            executable = find_chromium(self.config.browser) or ""
        except BridgeError as exc:
            return ChromiumObservation(self.config.browser.executable_path, error=str(exc)), None
        agent = AgentBrowser(self.config.browser, headless=True, remote_debugging_port=None)
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout * 3):
                context = await agent.new_context(login=login, grafana_url=grafana_url or "")
            start_ms = _ms(started)
            assert agent.browser is not None
            version = agent.browser.version
            sandbox_page = ""
            page = await context.new_page()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout):
                    await page.goto("chrome://sandbox")
                    sandbox_page = await page.inner_text("body")
            await page.close()
            chromium = ChromiumObservation(
                executable, version=version, start_ms=start_ms, sandbox_page=sandbox_page,
                as_root=os.geteuid() == 0,
            )  # fmt: skip
            if grafana_url is None:
                return chromium, None
            return chromium, await self._page(context, grafana_url, endpoint)
        except TimeoutError:
            return ChromiumObservation(
                executable, error=f"no start within {self.timeout * 3:g} s"
            ), None
        except BridgeError as exc:
            return ChromiumObservation(executable, error=str(exc)), None
        finally:
            with contextlib.suppress(Exception):
                await agent.close()

    async def _page(
        self, context: BrowserContext, grafana_url: str, endpoint: SignalingEndpoint
    ) -> PageObservation:
        from playwright.async_api import Error as PlaywrightError

        signaling = endpoint.http_base
        page = await context.new_page()
        console: list[str] = []
        page.on(
            "console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None
        )
        page.on("requestfailed", lambda r: console.append(f"{r.url}: {r.failure}"))
        try:
            async with asyncio.timeout(self.timeout * 2):
                await page.goto(grafana_url, wait_until="domcontentloaded")
        except (PlaywrightError, TimeoutError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "timed out"
            return PageObservation(grafana_url, signaling, error=first_line[:300])
        websocket = endpoint.websocket_url(f"doctor-{secrets.token_hex(6)}", secrets.token_hex(8))
        try:
            async with asyncio.timeout(self.timeout * 2):
                seen = await page.evaluate(
                    PAGE_PROBE.read_text(encoding="utf-8"),
                    {"base": signaling, "websocket": websocket, "timeoutMs": self.timeout * 1000},
                )
        except (PlaywrightError, TimeoutError) as exc:
            return PageObservation(grafana_url, signaling, error=_reason(exc))
        finally:
            await page.close()
        seen = seen if isinstance(seen, dict) else {}

        def text(key: str) -> str:
            value = seen.get(key)
            return str(value)[:300] if value is not None else ""

        status = seen.get("fetchStatus")
        elapsed = seen.get("socketMs")
        return PageObservation(
            grafana_url,
            signaling,
            page_origin=text("origin"),
            secure_context=seen.get("secureContext") is True,
            web_crypto=seen.get("webCrypto") is True,
            fetch_status=status if isinstance(status, int) else 0,
            fetch_error=text("fetchError"),
            socket=text("socket"),
            socket_ms=float(elapsed) if isinstance(elapsed, int | float) else 0.0,
            console=tuple(line[:500] for line in console[:20]),
        )

    # -- Grafana --------------------------------------------------------------------------------

    async def grafana(self, grafana_url: str) -> GrafanaObservation:
        from bridge.browser.contract import grafana_selectors
        from bridge.grafana.api import GrafanaApi

        started = time.monotonic()
        try:
            health = await GrafanaApi(grafana_url, timeout=self.timeout).health()
        except BridgeError as exc:
            return GrafanaObservation(grafana_url, error=str(exc))
        http_ms = _ms(started)
        configured = self.config.browser.grafana_version
        table = grafana_selectors(configured or health.version or "0")
        return GrafanaObservation(
            grafana_url,
            version=health.version,
            database=health.database,
            http_ms=http_ms,
            configured_version=configured,
            selector_table=table.grafana_version,
            selector_package=table.package_version,
        )

    async def login(self, grafana_url: str, login: GrafanaLogin) -> LoginObservation:
        from bridge.grafana.api import GrafanaApi

        try:
            who = await GrafanaApi(grafana_url, timeout=self.timeout).signed_in_as(login)
        except BridgeError as exc:
            return LoginObservation(login.describe(), error=str(exc))
        return LoginObservation(login.describe(), who=who)

    # -- the presenter of a join code ------------------------------------------------------------

    async def presenter(self, endpoint: SignalingEndpoint, code: JoinCode) -> PresenterObservation:
        """Open a channel to the presenter, challenge it, join as the doctor, read which guide
        it is on, and leave."""
        from bridge.protocol.events import AttendeeMode, SessionStart
        from bridge.session.attendee import AttendeeSession, Deliver, Ended, Failed, Send
        from bridge.session.live import binding_to_presenter, now_ms
        from bridge.transport.dataconnection import DataConnectionError
        from bridge.transport.peer import Peer, PeerUnavailableError

        seen: dict[str, Any] = {"session_id": code.id, "legacy": code.is_legacy}
        peer = Peer.for_client(endpoint, self.config.client, accept_incoming=False)
        session = AttendeeSession(code, name=DOCTOR_NAME, mode=AttendeeMode.GUIDED)
        connection = None
        try:
            async with asyncio.timeout(self.timeout * 3):
                await peer.open()
                started = time.monotonic()
                try:
                    connection = await peer.connect(code.id, open_timeout=self.timeout * 2)
                except PeerUnavailableError:
                    return PresenterObservation(**seen)
                seen.update(found=True, connect_ms=_ms(started))
                started = time.monotonic()
                binding = binding_to_presenter(peer, connection)
                outputs = session.channel_opened(time.monotonic(), now_ms(), binding)
                while True:
                    for output in outputs:
                        if isinstance(output, Send):
                            connection.send(output.message)
                        elif isinstance(output, Failed | Ended):
                            return PresenterObservation(**seen, error=output.reason)
                        elif isinstance(output, Deliver) and isinstance(output.event, SessionStart):
                            config = output.event.config
                            return PresenterObservation(
                                **seen, verified=not code.is_legacy,
                                session_name=config.name[:100], guide=config.tutorialUrl[:500],
                            )  # fmt: skip
                    if session.verified and "verify_ms" not in seen:
                        seen["verify_ms"] = _ms(started)
                    data = await connection.recv()
                    outputs = session.message_received(data, time.monotonic(), now_ms())
        except TimeoutError:
            if not seen.get("found"):
                error = f"no data channel to the presenter opened within {self.timeout * 2:g} s"
            elif not session.verified:
                error = "the presenter did not answer the identity check in time"
            else:
                error = "the presenter did not start the session in time"
            return PresenterObservation(**{**seen, "found": True}, error=error)
        except (DataConnectionError, BridgeError) as exc:
            return PresenterObservation(**{**seen, "found": True}, error=str(exc)[:300])
        finally:
            if connection is not None and session.verified:
                with contextlib.suppress(Exception):
                    for output in session.leave(now_ms()):
                        if isinstance(output, Send):
                            connection.send(output.message)
                    await asyncio.sleep(0.1)  # let the leave message go out
            await peer.close()

    # -- STUN and TURN ----------------------------------------------------------------------

    async def ice(self, servers: tuple[IceServerConfig, ...]) -> list[IceServerObservation]:
        results = []
        for server in servers:
            for url in server.urls:
                results.append(await self._ice_server(url, server.username, server.credential))
        return results

    async def _ice_server(self, url: str, username: str, credential: str) -> IceServerObservation:
        try:
            ice = IceUrl.parse(url)
        except ValueError as exc:
            return IceServerObservation(url, error=str(exc))
        shown = str(ice)
        try:
            async with asyncio.timeout(self.timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(ice.host, ice.port)
            address = (str(infos[0][4][0]), ice.port)
        except (OSError, TimeoutError) as exc:
            return IceServerObservation(shown, error=f"cannot resolve {ice.host}: {_reason(exc)}")
        binding_ms = None
        if ice.transport == "udp":
            try:
                binding_ms = await self._binding_udp(address)
            except (OSError, TimeoutError, BridgeError) as exc:
                error = "no answer" if isinstance(exc, TimeoutError) else _reason(exc)
                return IceServerObservation(shown, error=f"{error} (STUN Binding over UDP)")
        if not ice.is_turn:
            return IceServerObservation(shown, binding_ms=binding_ms)
        if not (username and credential):
            return IceServerObservation(
                shown, error="a TURN server needs username and credential", needs_credentials=True
            )
        try:
            relay_ms = await self._allocate(ice, address, username, credential)
        except TimeoutError:
            return IceServerObservation(shown, error="no answer to the TURN allocation")
        except Exception as exc:  # aioice raises its own and builtin errors alike
            return IceServerObservation(shown, error=f"TURN allocation failed: {_reason(exc)}")
        return IceServerObservation(shown, binding_ms=binding_ms, relay_ms=relay_ms)

    async def _binding_udp(self, address: tuple[str, int]) -> float:
        """One STUN Binding round trip (retransmitted every 500 ms, as RFC 8489 starts)."""
        from aioice import stun

        loop = asyncio.get_running_loop()
        request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        answered: asyncio.Future[float] = loop.create_future()
        started = time.monotonic()

        class Binding(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
                with contextlib.suppress(ValueError):
                    message = stun.parse_message(data)
                    if message.transaction_id == request.transaction_id and not answered.done():
                        answered.set_result(_ms(started))

        transport, _ = await loop.create_datagram_endpoint(Binding, remote_addr=address)
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    transport.sendto(bytes(request))
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            return await asyncio.shield(answered)
        finally:
            transport.close()

    async def _allocate(
        self, ice: IceUrl, address: tuple[str, int], username: str, credential: str
    ) -> float:
        """A TURN allocation with the credentials (the server's 401 challenge, then the
        authenticated request), released again at once."""
        from aioice.turn import create_turn_endpoint

        loop = asyncio.get_running_loop()
        released: asyncio.Future[None] = loop.create_future()

        class Relay(asyncio.DatagramProtocol):
            def connection_lost(self, exc: Exception | None) -> None:
                if not released.done():
                    released.set_result(None)

        started = time.monotonic()
        async with asyncio.timeout(self.timeout):
            transport, _ = await create_turn_endpoint(
                Relay,
                server_addr=address,
                username=username,
                password=credential,
                lifetime=60,
                ssl=ssl.create_default_context() if ice.tls else None,
                transport=ice.transport,
            )
        elapsed = _ms(started)
        transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                await released  # the allocation is given back before we go on
        return elapsed
