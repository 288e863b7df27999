"""The model one server process answers with: the current version, reloaded when it moves."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref

from model.documents import open_documents
from model.errors import StoreUnavailable, TagsimError
from model.loaded import LoadedModel, load_verified
from model.search import Searcher
from model.store import ArtifactStore
from service.errors import NotReady
from service.schemas import head_requests

log = logging.getLogger("tagsim")

RELOAD_MARKER = ".reload"  # in the home: POST /v1/admin/reload touches it, every watcher polls it


class CurrentModel:
    """Holds the current `Searcher` (and through it the `LoadedModel`) of a home.

    A reload builds a new searcher beside the old one and swaps it in; requests take
    ``self.searcher`` once and use that object throughout, so a swap never shows a
    request half of one model and half of another.

    Every process that serves converges on ``current`` by itself: a watcher thread,
    started with the app and again in every forked child (whatever server forks it),
    loads the version ``current`` points at when it moves, when the files of a version
    that failed to load change (repaired), and when any process touches the home's
    reload marker (`request_reload`).
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
        self.search_threads = settings.search_threads
        self._seen = None    # (target, its files, the marker) when last loaded or tried
        self._lock = threading.Lock()
        self._watcher_pid = None
        self._prober = None  # the thread that waits for the document database to come back

    def _target(self):
        try:
            return os.readlink(self.artifacts.current)
        except OSError:
            return None

    def _files(self, target):
        """(path, inode, size, mtime) of every file of *target*: changes when one is rewritten."""
        found = []
        for folder, _, names in os.walk(self.home / target) if target else ():
            for name in names:
                try:
                    st = os.stat(os.path.join(folder, name))
                except OSError:
                    continue
                found.append((folder, name, st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(sorted(found))

    def _marker(self):
        try:
            st = os.stat(self.home / RELOAD_MARKER)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _state(self):
        target = self._target()
        return target, self._files(target), self._marker()

    def load(self):
        """Load the current version; on failure keep what is served and remember why."""
        with self._lock:
            seen = self._state()
            target = seen[0]
            try:
                model = load_verified(self.home, key=self.key, search_threads=self.search_threads)
                head_requests(model.heads)  # a head whose fields clash is refused here
                searcher = Searcher(model, self.documents)
            except TagsimError as exc:
                self.problem, self._seen = str(exc), seen
                if self.searcher is not None:
                    log.error("not switching to %s, still serving %s: %s", target,
                              self.searcher.model.version, exc)
                return False
            try:
                searcher.sync()
            except StoreUnavailable as exc:  # serve tagging now; documents once it is back
                log.error("%s; requests that read documents answer 503 until it is back", exc)
            self.searcher, self.problem, self._seen = searcher, None, seen
            return True

    def reload_if_changed(self):
        """Load the current version if ``current``, its files or the reload marker changed."""
        if self._target() is not None and self._state() != self._seen:
            before = self.searcher
            if self.load() and self.searcher is not before:
                log.info("now serving %s", self.searcher.model.version)

    def request_reload(self) -> bool:
        """Load the current version now, and ask every other process of this home to.

        Returns whether the others were told: the home's reload marker could be written
        (a read-only home leaves the other processes to notice a new ``current`` alone).
        """
        try:
            with open(self.home / RELOAD_MARKER, "w", encoding="utf-8") as fh:
                fh.write(f"{time.time_ns()} {os.getpid()}\n")
            told = True
        except OSError as exc:
            log.warning("cannot write %s (%s): reloading this process only",
                        self.home / RELOAD_MARKER, exc)
            told = False
        return self.load() and told

    def start_watcher(self):
        """Start this process's reload thread now, and in every process forked from it."""
        if self.reload_seconds <= 0:
            return
        self.ensure_watcher()
        ref = weakref.ref(self)

        def in_child():
            served = ref()
            if served is not None:
                served._lock = threading.Lock()  # a lock held at the fork stays held in the child
                served._prober = None
                served.ensure_watcher()

        os.register_at_fork(after_in_child=in_child)

    def ensure_watcher(self):
        """Start this process's reload thread if it has none."""
        if self.reload_seconds <= 0 or self._watcher_pid == os.getpid():
            return
        self._watcher_pid = os.getpid()
        threading.Thread(target=_watch, args=(weakref.ref(self), self.reload_seconds),
                         name="tagsim-reload", daemon=True).start()

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

    def snapshot_searcher(self) -> tuple[Searcher, bool]:
        """The searcher and whether its added documents may be stale, for searches.

        Caught up with the store like `ready_searcher` while it can be reached; while
        it cannot, the last snapshot answers at once (True: documents added, changed or
        deleted since may be missing or outdated), and one background thread waits for
        the store to come back.
        """
        searcher = self._ready()
        if self.documents.outage.healthy:
            try:
                searcher.sync()
                return searcher, False
            except StoreUnavailable:
                pass
        self._probe_in_background()
        return searcher, True

    def _probe_in_background(self):
        with self._lock:
            if self._prober is not None and self._prober.is_alive():
                return
            self._prober = threading.Thread(target=_probe, args=(weakref.ref(self),),
                                            name="tagsim-store-probe", daemon=True)
            self._prober.start()


def _watch(ref, seconds):
    """Check every *seconds* whether the served version must change; end with the app."""
    while True:
        time.sleep(seconds)
        served = ref()
        if served is None:
            return
        try:
            served.reload_if_changed()
        except Exception:  # the watcher must outlive any one bad reload
            log.exception("reload check failed")
        del served


def _probe(ref):
    """Catch the searcher up with the store as soon as the store answers again."""
    while True:
        served = ref()
        if served is None or served.searcher is None:
            return
        try:
            served.searcher.sync()
            return
        except StoreUnavailable:
            pause = served.documents.outage.pause or 1.0
        except Exception:
            log.exception("catching up with the document store failed")
            return
        del served
        time.sleep(pause)
