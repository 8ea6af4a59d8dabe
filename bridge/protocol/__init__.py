"""Sans-I/O protocol core: wire messages, codecs, join codes and presenter authentication."""
