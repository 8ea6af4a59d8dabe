// A Pathfinder-like Live Session peer in the browser, written from PROTOCOL.md section 3:
// stock PeerJS 1.5.x, default (BinaryPack) serialization, WebCrypto ECDSA P-256 over the
// nonce's base64url-decoded bytes (as Pathfinder's session-crypto.ts).
// Tests drive it through window.live.
(() => {
  const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const unb64url = (s) => Uint8Array.from(
    atob(s.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - (s.length % 4)) % 4)),
    (c) => c.charCodeAt(0));
  const ECDSA = { name: "ECDSA", namedCurve: "P-256" };
  const SIGN = { name: "ECDSA", hash: "SHA-256" };
  const openPeer = (id, options) => new Promise((resolve, reject) => {
    const peer = new Peer(id, Object.assign({ debug: 0, config: { iceServers: [] } }, options));
    peer.on("open", () => resolve(peer));
    peer.on("error", (err) => reject(String(err.type || err)));
  });

  window.live = {
    events: [],
    log: [],

    // Attendee: join by code; resolves once verified and joined (or rejects with the reason).
    async join(code, options, name, mode) {
      const session = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(code), (c) => c.charCodeAt(0))));
      const peer = await openPeer(undefined, options);
      const key = await crypto.subtle.importKey("spki", unb64url(session.pubkey), ECDSA, false, ["verify"]);
      const nonce = b64url(crypto.getRandomValues(new Uint8Array(16)));
      const conn = peer.connect(session.id, { reliable: true });
      this.conn = conn;
      let verified = false;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject("presenter challenge timed out"), 10000);
        conn.on("open", () => conn.send({ type: "presenter_challenge", nonce }));
        conn.on("error", (e) => reject(String(e)));
        conn.on("data", async (msg) => {
          if (!verified) {
            if (msg.type !== "presenter_response") { this.log.push("dropped " + msg.type); return; }
            const ok = msg.nonce === nonce &&
              await crypto.subtle.verify(SIGN, key, unb64url(msg.signature), unb64url(nonce));
            clearTimeout(timer);
            if (!ok) { reject("presenter failed verification"); return; }
            verified = true;
            conn.send({ type: "attendee_join", name, mode, timestamp: Date.now() });
            resolve(peer.id);
            return;
          }
          if (msg.type === "heartbeat") {
            conn.send({ type: "heartbeat", sessionId: session.id, timestamp: Date.now(), senderId: "attendee", sentAt: msg.sentAt });
            return;
          }
          this.events.push(msg);
        });
      });
    },

    report(status, error) {
      this.conn.send({ type: "attendee_status", sessionId: "", timestamp: Date.now(), senderId: "attendee", status, error });
    },

    // Presenter: register a 6-character id and return the join code.
    async present(options, name, url) {
      const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
      const id = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => alphabet[b % 36]).join("");
      const pair = await crypto.subtle.generateKey(ECDSA, true, ["sign", "verify"]);
      const pubkey = b64url(await crypto.subtle.exportKey("spki", pair.publicKey));
      const peer = await openPeer(id, options);
      this.sessionId = id;
      this.attendees = [];
      peer.on("connection", (conn) => {
        conn.on("data", async (msg) => {
          if (msg.type === "presenter_challenge") {
            const sig = await crypto.subtle.sign(SIGN, pair.privateKey, unb64url(msg.nonce));
            conn.send({ type: "presenter_response", nonce: msg.nonce, signature: b64url(sig) });
          } else if (msg.type === "attendee_join") {
            this.attendees.push({ conn, name: msg.name, mode: msg.mode });
            conn.send({ type: "session_start", sessionId: id, timestamp: Date.now(), senderId: "presenter",
                        config: { name, tutorialUrl: url, defaultMode: "guided" } });
          } else {
            this.events.push(msg);
          }
        });
      });
      const json = JSON.stringify({ id, name, url, pubkey });
      return btoa(String.fromCharCode(...new TextEncoder().encode(json)));
    },

    broadcast(event) {
      const full = Object.assign({ sessionId: this.sessionId, timestamp: Date.now(), senderId: "presenter" }, event);
      for (const a of this.attendees) a.conn.send(full);
      return this.attendees.length;
    },
  };
})();
