# Signight WebSocket server image (docs/operations.md, "Docker").
# Build: docker build -t signight/websocket-server:0.1.0 .
# Three stages: the first builds a virtualenv from requirements.txt alone (never requirements-dev.txt),
# the second installs three.js for /play/ with npm ci, the last copies that virtualenv, the code
# and the page's three.js files, and runs as an unprivileged numeric user.

FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
COPY requirements.txt .
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt


# three.js for the /play/ page, from play/package-lock.json; only the files the page serves
# (play/finders.py) reach the runtime stage, never npm or the rest of the package.
FROM python:3.11-slim-bookworm AS play-assets

# Debian's Node and npm, whatever bookworm's security updates make of them: the build stage is
# thrown away, and the lock file pins (by hash) what npm installs.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /play
COPY play/package.json play/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund


FROM python:3.11-slim-bookworm AS runtime

# Written once at build time: the root filesystem is read-only in Kubernetes.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 signight \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin signight

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Code stays owned by root: the server user can read it but not change it.
COPY . .
COPY --from=play-assets /play/node_modules/three/build/three.module.js \
     /play/node_modules/three/build/three.core.js /app/play/node_modules/three/build/
COPY --from=play-assets /play/node_modules/three/examples/jsm/renderers/CSS2DRenderer.js \
     /app/play/node_modules/three/examples/jsm/renderers/
# DJANGO_DEBUG=1 only lets settings load without production secrets for this one command;
# the image itself defaults to production (DJANGO_DEBUG unset).
RUN DJANGO_DEBUG=1 python manage.py collectstatic --noinput \
    && python -m compileall -q /app

USER 10001:10001

# SERVER_PORT (the game socket) and HTTP_PORT (health, metrics, REST API).
EXPOSE 8080 3001

# slim has no curl: ask /health/live with the standard library, on HTTP_PORT when it is set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('HTTP_PORT', '3001'), timeout=3)"]

CMD ["python", "manage.py", "serve"]
