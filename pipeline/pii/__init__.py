"""The PII engine's modules. Importing the package defers spaCy's command-line modules
(:mod:`pipeline.pii.deferred_imports`) before anything here imports spaCy."""
from pipeline.pii.deferred_imports import defer_spacy_cli

defer_spacy_cli()
