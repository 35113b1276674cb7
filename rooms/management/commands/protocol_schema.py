"""`manage.py protocol_schema`: print the protocol's JSON Schema, or write it (`--output`); `make
schema` writes docs/protocol.schema.json with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rooms.protocol.schema import protocol_schema_text


class Command(BaseCommand):
    help = "Print (or write to --output) the game socket protocol's JSON Schema."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, help="write the schema to this file")

    def handle(self, *args: Any, output: Path | None = None, **options: Any) -> None:
        text = protocol_schema_text()
        if output is None:
            self.stdout.write(text, ending="")
        else:
            output.write_text(text, encoding="utf-8")
