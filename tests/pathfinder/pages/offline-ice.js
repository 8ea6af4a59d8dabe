// Loaded before Pathfinder's bundle. Upstream passes no ICE servers, so PeerJS's defaults (a
// public STUN server and PeerJS's TURN servers) would apply; the tests run over 127.0.0.1 with
// no internet, so every RTCPeerConnection of the page gets none: host candidates only, as our
// own peers use. Nothing else of upstream's configuration changes.
(() => {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config, ...rest) {
      super({ ...(config || {}), iceServers: [] }, ...rest);
    }
  };
})();
