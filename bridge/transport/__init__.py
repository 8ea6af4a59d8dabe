"""Transport: Python peers that speak PeerJS (signaling websocket + aiortc data channels)."""
