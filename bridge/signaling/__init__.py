"""The PeerJS-compatible signaling server: a sans-I/O realm wrapped by a websockets layer."""
