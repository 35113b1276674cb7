"""Two real server processes, a moderator (a Django user in the "Moderators" group) and its token,
for the moderation tests: the actor acts on one process, the target plays on the other."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt

from tests.e2e.servers import ROOT, ServerProcess

SECRET = "moderation-tests-secret-of-at-least-32-bytes"
ISSUER = "https://auth.signite.com"
PASSWORD = "moderator password 1"


def token(subject: str, name: str = "Player", lifetime: int = 300) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": subject, "name": name, "iat": now, "exp": now + lifetime}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def shell(env: dict[str, str], code: str) -> str:
    """The last line `manage.py shell -c code` prints, run against `env`'s database."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


def create_user(env: dict[str, str], username: str, *, moderator: bool) -> str:
    """A user (in the Moderators group if `moderator`); returns its pk, its tokens' subject."""
    return shell(
        env,
        "from django.contrib.auth.models import Group, User\n"
        f"u = User.objects.create_user({username!r}, password={PASSWORD!r}, is_staff=True)\n"
        f"if {moderator!r}: u.groups.add(Group.objects.get(name='Moderators'))\n"
        "print(u.pk)\n",
    )


def audit(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every ModerationAction row, newest first, as the database has it."""
    return json.loads(
        shell(
            env,
            "import json\n"
            "from moderation.models import ModerationAction as M\n"
            "print(json.dumps([dict(id=str(r.pk), action=r.action, actor=r.actor_name, "
            "room_id=r.room_id, client_id=r.client_id, subject=r.subject, "
            "message_id=r.message_id, reason=r.reason, parameters=r.parameters, "
            "reached=r.reached) for r in M.objects.all()]))",
        )
    )


@dataclass
class Api:
    """POSTs and GETs to one server's HTTP API, with a bearer token."""

    server: ServerProcess
    bearer: str | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        data = json.dumps(body).encode() if body is not None else None
        url = f"http://127.0.0.1:{self.server.http_port}{path}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self.request("POST", path, body)

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)
