"""``python -m pipeline ...`` is ``curate ...`` (for hosts where the console script is not on PATH)."""
from pipeline.cli import console_main

console_main()
