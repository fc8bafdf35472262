"""``python -m pipeline ...`` is ``curate ...`` (for hosts where the console script is not on PATH)."""
import sys

from pipeline.cli import main

sys.exit(main())
