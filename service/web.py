"""The web page: try the model and review its queue. HTML here; the API stays JSON.

Jinja templates and plain JavaScript from the package itself: no build step and nothing
from another host, so the page works on a machine with no internet.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from service.endpoints import endpoint

# The app's own static folder (service/static, served at /static) holds the script and styles.
bp = Blueprint("web", __name__, template_folder="templates")


@endpoint(bp, "GET", "/", "The web page: try the model, review the queue", "HTML", public=True,
          media="text/html")  # public: the page asks for a token itself
def index():
    """The page, with the served model's heads and labels (from its manifest)."""
    searcher = current_app.extensions["tagsim"].searcher
    heads = [] if searcher is None else [
        {"name": h.name, "multilabel": h.multilabel, "labels": list(h.labels),
         "filter_field": h.filter_field, "scores_field": h.scores_field}
        for h in searcher.model.heads]
    version = None if searcher is None else searcher.model.version
    return render_template("index.html", heads=heads, version=version)
