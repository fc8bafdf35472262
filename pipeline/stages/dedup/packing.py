"""Light tuples packed per bundle before a shuffle: the runner's work per element (encode, group,
decode; at two or more local workers, through the launcher as well) is paid per pack instead of per
document or per membership, and the grouped values are the same."""
from __future__ import annotations

from typing import Callable

import apache_beam as beam

PACK_MAX = 1 << 16  # values a bundle holds before it ships its packs


class PackPerBundle(beam.DoFn):
    """``(key, value)`` → ``(key, [value, ...])``, one pack per key per bundle (or per ``limit``
    values held). With ``coarse``, packs are made per ``coarse(key)`` and hold the ``(key, value)``
    pairs, for keys too many to group one by one (the consumer splits a pack by key)."""

    limit = PACK_MAX

    def __init__(self, coarse: Callable | None = None) -> None:
        self._coarse = coarse

    def start_bundle(self) -> None:
        self._packs: dict = {}
        self._held = 0

    def process(self, kv):
        if self._coarse is None:
            self._add(*kv)
        else:
            self._add(self._coarse(kv[0]), kv)
        if self._held >= self.limit:
            yield from self._ship()

    def _add(self, key, item) -> None:
        pack = self._packs.get(key)
        if pack is None:
            self._packs[key] = [item]
        else:
            pack.append(item)
        self._held += 1

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindows

        for kv in self._ship():
            yield GlobalWindows.windowed_value(kv)

    def _ship(self):
        packs, self._packs, self._held = self._packs, {}, 0
        return list(packs.items())


def unpacked(packs):
    """The values of grouped packs, in order."""
    for pack in packs:
        yield from pack


def grouped(pairs) -> dict:
    """``(key, value)`` pairs → ``{key: [value, ...]}``, values in arrival order."""
    groups: dict = {}
    for key, value in pairs:
        found = groups.get(key)
        if found is None:
            groups[key] = [value]
        else:
            found.append(value)
    return groups
