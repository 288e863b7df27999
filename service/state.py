"""The loaded model and document search one server process answers with."""

from __future__ import annotations

import logging
import os
import threading
import time

from model.errors import TagsimError
from model.runtime import Searcher, load_model, open_store
from model.store import ArtifactStore
from service.errors import NotReady

log = logging.getLogger("tagsim")


class Runtime:
    """Holds the current `Searcher`; a reload builds a new one beside it and swaps it in.

    Requests take ``self.searcher`` once and use that object throughout, so a swap never
    shows a request half of one model and half of another.
    """

    def __init__(self, home, reload_seconds=0.0):
        self.home = home
        self.artifacts = ArtifactStore(home)
        self.store = open_store(home)
        self.searcher: Searcher | None = None
        self.problem = "the model has not been loaded yet"
        self.reload_seconds = reload_seconds
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
                searcher = Searcher(load_model(self.home), self.store)
            except TagsimError as exc:
                self.problem = str(exc)
                self._failed_target = target
                if self.searcher is not None:
                    log.error("not switching to %s, still serving %s: %s", target,
                              self.searcher.model.version, exc)
                return False
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

    def ready(self, sync=True) -> Searcher:
        """The current searcher; `NotReady` if none.

        With *sync* it first applies the document store's new changes: one SQLite query,
        which requests that never read documents (tagging, the manifest) skip.
        """
        searcher = self.searcher
        if searcher is None:
            raise NotReady(f"not ready: {self.problem}")
        if sync:
            searcher.sync()
        return searcher
