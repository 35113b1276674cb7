#!/usr/bin/env python
"""Django's command-line utility; a configuration error prints one line instead of a traceback."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "signight.settings")
    from django.core.management import execute_from_command_line

    from signight.config import ConfigError

    try:
        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        sys.exit(f"signight: configuration error: {exc}")


if __name__ == "__main__":
    main()
