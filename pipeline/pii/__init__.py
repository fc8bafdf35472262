"""The PII engine's modules. Importing the package defers spaCy's command-line modules and skips
presidio's import-time validation of its own patterns (:mod:`pipeline.pii.deferred_imports`)
before anything here imports spaCy or presidio."""
from pipeline.pii.deferred_imports import defer_spacy_cli, trust_presidio_patterns

defer_spacy_cli()
trust_presidio_patterns()
