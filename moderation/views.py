"""POST /moderation/{kick,ban,unban,mute,close-room,redact}: the moderation actions for automation,
for tokens of users with the `moderate` permission (401 without a token, 403 otherwise). Each
answers {action_id, reached}: its audit row and how many live sockets it reached."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation import services
from moderation.selectors import moderator_for
from signight import fields, openapi
from signight.auth import Identity
from signight.text import ROOM_ID_MAX_CHARS, ROOM_ID_PATTERN


class CanModerate(permissions.BasePermission):
    message = "This token's user does not have the moderation permission."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.user, Identity):
            return False
        view.moderator = moderator_for(request.user.subject)
        return view.moderator is not None


def _room_id() -> fields.StringRegexField:
    return fields.StringRegexField(
        ROOM_ID_PATTERN, max_length=ROOM_ID_MAX_CHARS, trim_whitespace=False
    )


# A client_id: a UUID (the token subject's, or the anonymous socket's own).
CLIENT_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"


def _client_id() -> fields.StringRegexField:
    return fields.StringRegexField(CLIENT_ID_PATTERN, max_length=36, trim_whitespace=False)


def _subject() -> fields.StringRegexField:
    return fields.StringRegexField(openapi.TEXT_PATTERN, max_length=255, trim_whitespace=False)


def _reason() -> fields.StringRegexField:
    return fields.StringRegexField(
        r"^[^\x00]*\Z",
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
    )


@extend_schema_serializer(component_name="ModerationOutcome")
class OutcomeSerializer(serializers.Serializer):
    action_id = serializers.CharField(help_text="The audit row (ModerationAction) of the action.")
    reached = serializers.IntegerField(help_text="How many live sockets it reached.")


class ModerationView(APIView):
    """One moderation action: validate the body, run the service, answer its outcome."""

    permission_classes = [CanModerate]
    moderator: Any = None
    InputSerializer: type[serializers.Serializer]

    def act(self, data: dict[str, Any]) -> services.Outcome:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = self.act(dict(body.validated_data))
        return Response(OutcomeSerializer(outcome).data, status=HTTPStatus.OK)


def _schema(operation_id: str, summary: str, body: type[serializers.Serializer]) -> Any:
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        request=body,
        responses={
            HTTPStatus.OK: OutcomeSerializer,
            HTTPStatus.BAD_REQUEST: openapi.INVALID_BODY,
            HTTPStatus.UNAUTHORIZED: openapi.UNAUTHORIZED,
            HTTPStatus.FORBIDDEN: openapi.error("The token's user may not moderate."),
            HTTPStatus.NOT_FOUND: openapi.error("`not_found`: no such room or message."),
            HTTPStatus.SERVICE_UNAVAILABLE: openapi.UNAVAILABLE,
        },
    )


class KickView(ModerationView):
    @extend_schema_serializer(component_name="KickRequest")
    class InputSerializer(serializers.Serializer):
        client_id = _client_id()
        reason = _reason()

    @_schema(
        "moderation_kick", "Close a player's sockets (4403) and void its resume", InputSerializer
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def act(self, data: dict[str, Any]) -> services.Outcome:
        return services.kick(actor=self.moderator, **data)


class BanView(ModerationView):
    @extend_schema_serializer(component_name="BanRequest")
    class InputSerializer(serializers.Serializer):
        subject = _subject()
        until = serializers.DateTimeField(
            required=False,
            allow_null=True,
            default=None,
            help_text="ISO 8601; absent or null: until unbanned (a time past bans nothing).",
        )
        reason = _reason()

    @_schema("moderation_ban", "Ban a token subject (optionally until a time)", InputSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)

    def act(self, data: dict[str, Any]) -> services.Outcome:
        return services.ban(actor=self.moderator, **data)


class UnbanView(ModerationView):
    @extend_schema_serializer(component_name="UnbanRequest")
    class InputSerializer(serializers.Serializer):
        subject = _subject()

    @_schema("moderation_unban", "Lift a token subject's bans", InputSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)

    def act(self, data: dict[str, Any]) -> services.Outcome:
        return services.unban(actor=self.moderator, **data)


class MuteView(ModerationView):
    @extend_schema_serializer(component_name="MuteRequest")
    class InputSerializer(serializers.Serializer):
        client_id = _client_id()
        room_id = _room_id()
        minutes = fields.NumberIntegerField(min_value=1, max_value=7 * 24 * 60)
        reason = _reason()

    @_schema("moderation_mute", "Mute a player in a room for some minutes", InputSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)

    def act(self, data: dict[str, Any]) -> services.Outcome:
        return services.mute(actor=self.moderator, **data)


class CloseRoomView(ModerationView):
    @extend_schema_serializer(component_name="CloseRoomRequest")
    class InputSerializer(serializers.Serializer):
        room_id = _room_id()
        reason = _reason()

    @_schema(
        "moderation_close_room", "Close a room now (RoomClosed to its players)", InputSerializer
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def act(self, data: dict[str, Any]) -> services.Outcome:
        return services.close_room(actor=self.moderator, **data)


class RedactView(ModerationView):
    @extend_schema_serializer(component_name="RedactRequest")
    class InputSerializer(serializers.Serializer):
        message_id = fields.StringRegexField(r"^[0-9a-f]{24}\Z", max_length=24)
        reason = _reason()

    @_schema("moderation_redact", "Take a chat message down (ChatRedacted)", InputSerializer)
    def post(self, request: Request) -> Response:
        return super().post(request)

    def act(self, data: dict[str, Any]) -> services.Outcome:
        return services.redact(actor=self.moderator, **data)
