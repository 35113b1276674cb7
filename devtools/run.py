"""`make run`: serve Signight on embedded local services, so a newcomer needs only Python.

Where REDIS_URL / MONGODB_URL are unset it starts a private redis-server and SecantusDB with
their data under ./.data/, applies migrations, serves with `manage.py serve` (uvicorn) on
SERVER_PORT and HTTP_PORT, and stops everything it started on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from devtools.services import Service, start_redis, start_secantus

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
# Fixed ports, so `make superuser` in a second terminal finds the same servers.
DEV_REDIS_PORT = 6380
DEV_MONGO_PORT = 27018
DEV_REDIS_URL = f"redis://127.0.0.1:{DEV_REDIS_PORT}/0"
DEV_MONGODB_URL = f"mongodb://127.0.0.1:{DEV_MONGO_PORT}/?directConnection=true"


def main() -> int:
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "1")
    env.setdefault("WS_AUTH_REQUIRED", "0")
    env.setdefault("LOG_FORMAT", "text")
    started: list[Service] = []
    try:
        if "REDIS_URL" not in env:
            redis = start_redis(data_dir=DATA / "redis", port=DEV_REDIS_PORT)
            started.append(redis)
            env["REDIS_URL"] = redis.url
            print(f"signight: started redis-server (pid {redis.proc.pid}) at {redis.url}")
        if "MONGODB_URL" not in env:
            mongo = start_secantus(
                data_dir=DATA / "secantus", log_path=DATA / "secantus.log", port=DEV_MONGO_PORT
            )
            started.append(mongo)
            env["MONGODB_URL"] = mongo.url
            print(f"signight: started SecantusDB (pid {mongo.proc.pid}) at {mongo.url}")
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
        ws_port = env.get("SERVER_PORT", "8080")
        http_port = env.get("HTTP_PORT", "3001")
        print(
            f"signight: game socket  ws://localhost:{ws_port}/ws/\n"
            f"signight: HTTP API     http://localhost:{http_port}/health  /rooms  /chat/history\n"
            f"signight: 3D demo      http://localhost:{http_port}/play/?room=lobby&name=you\n"
            f"signight: admin        http://localhost:{http_port}/admin/"
            "  (run `make superuser` in another terminal first)\n"
            "signight: Ctrl-C stops the server and everything started here",
            flush=True,
        )
        # A session of its own: the terminal's Ctrl-C reaches only this script, which sends the
        # server ONE SIGTERM, so it drains like a pod (1001 to every client) instead of taking
        # the SIGINT and the SIGTERM as two signals (an immediate exit, 1012 without a reason).
        server = subprocess.Popen([*manage, "serve"], env=env, start_new_session=True)
        try:
            return server.wait()
        except KeyboardInterrupt:
            print("signight: draining; Ctrl-C again to stop at once", flush=True)
            server.send_signal(signal.SIGTERM)
            try:
                return server.wait(60)
            except KeyboardInterrupt:
                server.send_signal(signal.SIGTERM)  # a second signal: the server exits now
                return server.wait(10)
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    finally:
        for service in reversed(started):
            service.stop()
            print(f"signight: stopped {service.name} (pid {service.proc.pid})")


if __name__ == "__main__":
    sys.exit(main())
