"""The model one server process answers with: the current version, reloaded when it moves."""

from __future__ import annotations

import logging
import os
import threading
import time

from model.documents import open_documents
from model.errors import StoreUnavailable, TagsimError
from model.loaded import LoadedModel, load_verified
from model.search import Searcher
from model.store import ArtifactStore
from service.errors import NotReady
from service.schemas import head_requests

log = logging.getLogger("tagsim")


class CurrentModel:
    """Holds the current `Searcher` (and through it the `LoadedModel`) of a home.

    A reload builds a new searcher beside the old one and swaps it in; requests take
    ``self.searcher`` once and use that object throughout, so a swap never shows a
    request half of one model and half of another.
    """

    def __init__(self, settings):
        self.home = settings.home
        self.key = settings.artifact_key
        self.artifacts = ArtifactStore(self.home, key=self.key)
        self.documents = open_documents(self.home, settings.database_url,
                                        settings.database_timeout)
        self.searcher: Searcher | None = None
        self.problem = "the model has not been loaded yet"
        self.reload_seconds = settings.reload_seconds
        self._loaded_target = None
        self._failed_target = None
        self._lock = threading.Lock()
        self._watcher_pid = None

    def _target(self):
        try:
            return os.readlink(self.artifacts.current)
        except OSError:
            return None

    def load(self):
        """Load the current version; on failure keep what is served and remember why."""
        with self._lock:
            target = self._target()
            try:
                model = load_verified(self.home, key=self.key)
                head_requests(model.heads)  # a head whose fields clash is refused here
                searcher = Searcher(model, self.documents)
            except TagsimError as exc:
                self.problem = str(exc)
                self._failed_target = target
                if self.searcher is not None:
                    log.error("not switching to %s, still serving %s: %s", target,
                              self.searcher.model.version, exc)
                return False
            try:
                searcher.sync()
            except StoreUnavailable as exc:  # serve tagging now; documents once it is back
                log.error("%s; requests that read documents answer 503 until it is back", exc)
            self.searcher, self.problem = searcher, None
            self._loaded_target, self._failed_target = target, None
            return True

    def reload_if_changed(self):
        """Load the current version if ``current`` points somewhere new (and not known bad)."""
        target = self._target()
        if target is not None and target not in (self._loaded_target, self._failed_target):
            if self.load():
                log.info("now serving %s", self.searcher.model.version)

    def ensure_watcher(self):
        """Start this process's reload thread (once per process: workers are forked)."""
        if self.reload_seconds <= 0 or self._watcher_pid == os.getpid():
            return
        self._watcher_pid = os.getpid()
        threading.Thread(target=self._watch, name="tagsim-reload", daemon=True).start()

    def _watch(self):
        while True:
            time.sleep(self.reload_seconds)
            try:
                self.reload_if_changed()
            except Exception:  # the watcher must outlive any one bad reload
                log.exception("reload check failed")

    def _ready(self) -> Searcher:
        searcher = self.searcher
        if searcher is None:
            raise NotReady(f"not ready: {self.problem}")
        return searcher

    def ready_model(self) -> LoadedModel:
        """The loaded model, for requests that never read documents; `NotReady` if none."""
        return self._ready().model

    def ready_searcher(self) -> Searcher:
        """The searcher, caught up with the document store's changes; `NotReady` if none.

        Catching up is one query to the document store, which requests that only tag or
        read the manifest skip by asking for `ready_model` instead. `StoreUnavailable`
        (503) while the store cannot be reached.
        """
        searcher = self._ready()
        searcher.sync()
        return searcher
