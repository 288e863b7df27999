"""Training side of tagsim: datasets, training, evaluation, reports and the CLI."""
