"""The ML core of tagsim: features, tagger, similarity index and artifact store.

Nothing here knows about Flask or the command line.
"""
