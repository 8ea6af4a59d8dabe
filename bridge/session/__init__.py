"""Live Sessions: presenter and attendee state machines (sans-I/O) and their I/O wrappers."""
