"""The fault suite (issue 11): real `manage.py serve` processes on a private Redis and SecantusDB,
with faults injected for real (kill, pause, restart, black-hole or reset through tests.faults.proxy)
and what clients see asserted. Marker `faults`; `make check` skips it, `make test` runs it."""
