"""Browser agents: Chromium through Playwright, capture for presenters, replay for attendees."""
