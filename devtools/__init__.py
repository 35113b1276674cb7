"""Development-only helpers (embedded Redis and SecantusDB); never imported by the server."""
