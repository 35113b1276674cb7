"""DRF fields that take a JSON string and nothing else.

DRF's CharField turns a JSON number into its text (12 becomes "12"), so a body the OpenAPI schema
calls invalid (`"reason": 1.5`) would be accepted. The HTTP API answers 400 for it instead.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StringRegexField(serializers.RegexField):
    """A RegexField that refuses anything but a string (numbers and booleans included)."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return str(super().to_internal_value(data))


class NumberIntegerField(serializers.IntegerField):
    """An IntegerField that refuses strings and booleans ("5" and true are not JSON integers)."""

    default_error_messages = {"not_a_number": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, (str, bool)):
            self.fail("not_a_number")
        return int(super().to_internal_value(data))
