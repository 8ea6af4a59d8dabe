// Entry of the test bundle of Pathfinder's Live Sessions code: upstream's own modules, read from
// the checkout that PATHFINDER_SRC names ("pathfinder/..." below), exposed on window for tests.
// Nothing of upstream is in this repository; tests/interop/bundle-pathfinder.mjs builds it.
import { SessionManager } from "pathfinder/src/integrations/workshop/session-manager";
import { ActionCaptureSystem } from "pathfinder/src/integrations/workshop/action-capture";
import * as joinCodes from "pathfinder/src/integrations/workshop/join-code-utils";
import * as sessionCrypto from "pathfinder/src/integrations/workshop/session-crypto";
import { fromBase64url, toBase64url } from "pathfinder/src/security/webcrypto";

window.pathfinder = {
  SessionManager,
  ActionCaptureSystem,
  parseJoinCode: joinCodes.parseJoinCode,
  generateJoinCode: joinCodes.generateJoinCode,
  generateJoinUrl: joinCodes.generateJoinUrl,
  parseSessionFromUrl: joinCodes.parseSessionFromUrl,
  sessionCrypto,
  fromBase64url,
  toBase64url,
};
