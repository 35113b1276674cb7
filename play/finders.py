"""AssetFinder: the page's files that live outside the app, served as static files under the
names the page imports: three.js from play/node_modules (`npm ci --prefix play`, pinned by
play/package-lock.json) and the JS client from clients/js, read in place so no copy can drift.

Only these files, not their directories: npm's other files and the client's tests stay private.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, overload

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage
from django.core.checks import Warning as CheckWarning
from django.core.files.storage import FileSystemStorage

THREE = "play/node_modules/three"

# Each keeps its file name (collectstatic and whitenoise join the directory and the name).
ASSETS: dict[str, str] = {
    # static path: source, relative to the repository's root
    "play/vendor/three.module.js": f"{THREE}/build/three.module.js",
    "play/vendor/three.core.js": f"{THREE}/build/three.core.js",  # three.module.js imports it
    "play/vendor/CSS2DRenderer.js": f"{THREE}/examples/jsm/renderers/CSS2DRenderer.js",
    "signight/signight.js": "clients/js/signight.js",
}


def source(static_path: str) -> Path:
    return Path(settings.BASE_DIR) / ASSETS[static_path]


class AssetFinder(BaseFinder):
    """A staticfiles finder over ASSETS (collectstatic and whitenoise's finder mode use it)."""

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        missing = [path for path in ASSETS if not source(path).is_file()]
        if not missing:
            return []
        return [
            CheckWarning(
                f"the /play/ page's files are missing: {', '.join(ASSETS[p] for p in missing)}",
                hint="run `make run` (or `npm ci --prefix play`), which installs three.js",
                id="play.W001",
            )
        ]

    @overload
    def find(self, path: str, find_all: Literal[False] = False) -> str | None: ...
    @overload
    def find(self, path: str, find_all: Literal[True]) -> list[str]: ...
    def find(self, path: str, find_all: bool = False) -> str | list[str] | None:
        found = [str(source(path))] if path in ASSETS and source(path).is_file() else []
        # Not found is [] either way, as Django's own finders answer: finders.find() takes a
        # None for a match (and whitenoise then fails with a 500 instead of a 404).
        return found if find_all or not found else found[0]

    def list(
        self, ignore_patterns: Iterable[str] | None
    ) -> Iterator[tuple[str, FileSystemStorage]]:
        for path in ASSETS:
            file = source(path)
            if not file.is_file():
                continue  # check() warns; the page then fails to load three.js, loudly
            storage = FileSystemStorage(location=file.parent)
            storage.prefix = str(Path(path).parent)  # type: ignore[attr-defined]  # collectstatic reads it
            yield file.name, storage
