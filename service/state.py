"""The loaded model and document search one server process answers with."""

from __future__ import annotations

import threading

from model.errors import TagsimError
from model.runtime import Searcher, load_model, open_store
from service.errors import NotReady


class Runtime:
    """Holds the current `Searcher`; a reload builds a new one beside it and swaps it in."""

    def __init__(self, home):
        self.home = home
        self.store = open_store(home)
        self.searcher: Searcher | None = None
        self.problem = "the model has not been loaded yet"
        self._lock = threading.Lock()

    def load(self):
        """Load the current version; on failure keep what is served and remember why."""
        with self._lock:
            try:
                searcher = Searcher(load_model(self.home), self.store)
            except TagsimError as exc:
                self.problem = str(exc)
                return False
            self.searcher, self.problem = searcher, None
            return True

    def ready(self) -> Searcher:
        """The current searcher, synced with the document store; `NotReady` if none."""
        searcher = self.searcher
        if searcher is None:
            raise NotReady(f"not ready: {self.problem}")
        searcher.sync()
        return searcher
