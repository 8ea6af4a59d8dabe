// Drives Pathfinder's own SessionManager (window.pathfinder: upstream's code, bundled at test
// time) for the tests. Every SessionManager gets a recorder of what its public callbacks report
// (events, errors, the attendee list, raised hands), so one page can hold a presenter, an
// attendee or many attendees. This file is ours: it only calls upstream's public API.
(() => {
  const sessions = [];

  const record = (manager) => {
    const entry = { manager, events: [], errors: [], attendees: [], handRaises: [] };
    manager.onEvent((event) => entry.events.push(event));
    manager.onError((error) => entry.errors.push({ code: error.code, message: error.message }));
    manager.onAttendeeListUpdate((list) => (entry.attendees = list));
    manager.onHandRaiseUpdate((list) => (entry.handRaises = list));
    sessions.push(entry);
    return sessions.length - 1;
  };

  window.harness = {
    sessions,

    // createSession(config, peerjsConfig): resolves with what the presenter shares.
    async present(server, config) {
      const manager = new window.pathfinder.SessionManager();
      const index = record(manager);
      const info = await manager.createSession(config, server);
      return { index, sessionId: info.sessionId, joinCode: info.joinCode, joinUrl: info.joinUrl };
    },

    // What Pathfinder's join dialog does with a pasted code: parseJoinCode, then joinSession.
    // Resolves once the presenter is verified and attendee_join is sent; rejects otherwise.
    async attend(server, code, name, mode) {
      const offer = window.pathfinder.parseJoinCode(code);
      const manager = new window.pathfinder.SessionManager();
      const index = record(manager);
      await manager.joinSession(offer.id, mode, name, offer.sessionPublicKey, server);
      return index;
    },

    // The presenter's capture of Show me / Do it clicks in this page (upstream's ActionCaptureSystem).
    capture(index, sessionId) {
      const capture = new window.pathfinder.ActionCaptureSystem(sessions[index].manager, sessionId);
      capture.startCapture();
      sessions[index].capture = capture;
    },

    // Upstream's capture with a recorder in place of a SessionManager (it only calls
    // broadcastToAttendees): what Pathfinder would broadcast for each click of this page.
    recordCapture(sessionId) {
      const captured = (window.upstreamCaptured = []);
      const capture = new window.pathfinder.ActionCaptureSystem(
        { broadcastToAttendees: (event) => captured.push(event) }, sessionId);
      capture.startCapture();
    },

    manager: (index) => sessions[index].manager,
  };
})();
