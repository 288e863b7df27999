"""A real headless Chromium (Debian's chromium and chromium-driver) and a real server."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage")
DRIVER = Path("/usr/bin/chromedriver")


def ensure_chromium():
    """Install Debian's chromium and chromium-driver when they are missing (as root)."""
    if DRIVER.exists() and shutil.which("chromium"):
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
                   check=True, env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/bin:/bin"})


def start_browser(width=1200, height=900):
    """A selenium Chrome driver on headless Chromium with a fresh profile; quit it when done."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='tagsim-chromium-')}")
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(str(DRIVER)), options=options)


class ServerThread:
    """The app served over HTTP on a free port of 127.0.0.1, in a thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)
