"""A plugin stage for curation-pipeline: drops every record whose text contains one of the words
listed under `plugins.banned_words.words` in the config (case-insensitive, whole words)."""
import re

from pipeline.stages.base import StageCore, drop, keep


class BannedWords(StageCore):
    name = "banned_words"

    def setup(self):
        # Once per worker: compile the pattern from this plugin's own config keys.
        words = [w for w in self.options.get("words") or [] if isinstance(w, str) and w]
        self._pattern = re.compile(r"\b(?:%s)\b" % "|".join(map(re.escape, words)), re.IGNORECASE) if words else None

    def process(self, record):
        text = record.get("text") or ""
        found = self._pattern.search(text) if self._pattern else None
        if found:
            # Details land in the decisions table: a count, never the text itself.
            return drop("banned_word", {"matches": len(self._pattern.findall(text))})
        return keep()
