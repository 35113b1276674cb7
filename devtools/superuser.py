"""`make superuser`: Django's createsuperuser against the servers `make run` started.

REDIS_URL / MONGODB_URL win where set; otherwise the dev ports devtools.run owns. Without a
terminal it needs DJANGO_SUPERUSER_USERNAME, _EMAIL and _PASSWORD (then `--noinput`) and fails
without them, where Django alone would print "skipped" and exit 0.
"""

from __future__ import annotations

import os
import subprocess
import sys

from devtools.run import DEV_MONGODB_URL, DEV_REDIS_URL, ROOT

NOINPUT_VARIABLES = (
    "DJANGO_SUPERUSER_USERNAME",
    "DJANGO_SUPERUSER_EMAIL",
    "DJANGO_SUPERUSER_PASSWORD",
)
# Not 1: Django's own errors (e.g. "That username is already taken") exit with 1.
EXIT_NO_TERMINAL = 2


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("REDIS_URL", DEV_REDIS_URL)
    env.setdefault("MONGODB_URL", DEV_MONGODB_URL)
    command = [sys.executable, str(ROOT / "manage.py"), "createsuperuser"]
    missing = [name for name in NOINPUT_VARIABLES if not env.get(name)]
    if not missing:
        command.append("--noinput")
    elif not sys.stdin.isatty():
        print(
            "make superuser: no terminal to prompt on. Set DJANGO_SUPERUSER_USERNAME, "
            "DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD to create the superuser "
            f"without one (missing: {', '.join(missing)}).",
            file=sys.stderr,
        )
        return EXIT_NO_TERMINAL
    return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
