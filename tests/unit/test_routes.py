import json

from bridge.signaling.routes import Router, cors_headers, origin_allowed, websocket_params


def router(**kwargs: object) -> Router:
    defaults: dict[str, object] = dict(
        path="/pathfinder",
        key="pathfinder",
        allowed_origins=("*",),
        allow_discovery=False,
        peer_ids=lambda: ["a", "b"],
        metrics_text=lambda: "m 1\n",
        new_id=lambda: "fresh-id",
    )
    defaults.update(kwargs)
    return Router(**defaults)  # type: ignore[arg-type]


def test_description_id_and_peers() -> None:
    r = router()
    root = r.route("GET", "/pathfinder", None)
    assert root is not None and json.loads(root.body)["name"] == "PeerJS Server"
    assert r.route("GET", "/pathfinder/", None) == root
    id_response = r.route("GET", "/pathfinder/pathfinder/id?ts=123", None)
    assert id_response is not None and id_response.body == b"fresh-id"
    peers = r.route("GET", "/pathfinder/pathfinder/peers", None)
    assert peers is not None and peers.status == 401
    open_peers = router(allow_discovery=True).route("GET", "/pathfinder/pathfinder/peers", None)
    assert open_peers is not None and json.loads(open_peers.body) == ["a", "b"]


def test_wrong_key_and_unknown_paths() -> None:
    r = router()
    wrong = r.route("GET", "/pathfinder/nope/id", None)
    assert wrong is not None and wrong.status == 401
    for target in ("/", "/other", "/pathfinder/x/y/z"):
        response = r.route("GET", target, None)
        assert response is not None and response.status == 404
    post = r.route("POST", "/pathfinder/pathfinder/id", None)
    assert post is not None and post.status == 405


def test_websocket_route_and_origin_policy() -> None:
    assert router().route("GET", "/pathfinder/peerjs?key=k&id=i&token=t", "http://evil") is None
    strict = router(allowed_origins=("https://grafana.example.com",))
    assert strict.route("GET", "/pathfinder/peerjs?id=1", "https://grafana.example.com") is None
    refused = strict.route("GET", "/pathfinder/peerjs?id=1", "http://evil")
    assert refused is not None and refused.status == 403


def test_metrics_route() -> None:
    response = router().route("GET", "/pathfinder/metrics", None)
    assert response is not None and response.body == b"m 1\n"
    assert response.content_type.startswith("text/plain; version=0.0.4")


def test_cors() -> None:
    assert cors_headers("http://x", ("*",)) == (("Access-Control-Allow-Origin", "*"),)
    assert ("Access-Control-Allow-Origin", "http://ok") in cors_headers("http://ok", ("http://ok",))
    assert all(
        name != "Access-Control-Allow-Origin"
        for name, _ in cors_headers("http://no", ("http://ok",))
    )
    preflight = router().route("OPTIONS", "/pathfinder/pathfinder/id", "http://x")
    assert preflight is not None and preflight.status == 204
    assert origin_allowed(None, ("http://ok",))


def test_websocket_params() -> None:
    params = websocket_params("/pathfinder/peerjs?key=pathfinder&id=abc&token=t1&version=1.5.5")
    assert (params.id, params.token, params.key) == ("abc", "t1", "pathfinder")
    assert websocket_params("/pathfinder/peerjs").id is None


def test_the_client_address_behind_a_trusted_proxy_only() -> None:
    from bridge.signaling.routes import forwarded_client

    trusted = ("10.0.0.5",)
    # The proxy's own entry is the last one; what the client wrote before it is not believed.
    assert forwarded_client("10.0.0.5", ["203.0.113.9, 198.51.100.7"], trusted) == "198.51.100.7"
    assert forwarded_client("10.0.0.5", ["1.1.1.1", "198.51.100.7"], trusted) == "198.51.100.7"
    assert forwarded_client("10.0.0.5", [], trusted) == "10.0.0.5"
    assert forwarded_client("10.0.0.5", ["not-an-address"], trusted) == "10.0.0.5"
    # Anyone else's header is ignored: the socket's address counts.
    assert forwarded_client("192.0.2.1", ["198.51.100.7"], trusted) == "192.0.2.1"
