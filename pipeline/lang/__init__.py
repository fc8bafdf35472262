"""Language identification shared by the langid stage and anything else that needs a label
(trajectory checks, quality overrides): :class:`~pipeline.lang.identifier.LanguageIdentifier`."""
