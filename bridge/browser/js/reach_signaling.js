// pathfinder-bridge doctor: can a page of this origin reach the signaling server, as PeerJS in
// Pathfinder would? Fetches the server's description, then registers a throwaway peer id over
// its WebSocket and reports the first message. Also whether WebCrypto is there (it needs a
// secure context), which attendees use to verify presenters. Receives its URLs as arguments.
async ({ base, websocket, timeoutMs }) => {
  const result = {
    origin: location.origin,
    secureContext: window.isSecureContext,
    webCrypto: Boolean(window.crypto && window.crypto.subtle),
    fetchStatus: null,
    fetchError: null,
    socket: null,
    socketMs: null,
  };
  try {
    const response = await fetch(base + "/", { cache: "no-store" });
    result.fetchStatus = response.status;
  } catch (error) {
    result.fetchError = String(error);
  }
  const started = performance.now();
  result.socket = await new Promise((resolve) => {
    let socket = null;
    const timer = setTimeout(() => {
      resolve("timeout");
      if (socket) socket.close();
    }, timeoutMs);
    const finish = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    try {
      socket = new WebSocket(websocket);
    } catch (error) {
      finish("error: " + error);
      return;
    }
    socket.onmessage = (message) => {
      finish(String(message.data).slice(0, 300));
      socket.close();
    };
    socket.onerror = () => finish("error");
    socket.onclose = (event) => finish("closed " + event.code);
  });
  result.socketMs = performance.now() - started;
  return result;
}
