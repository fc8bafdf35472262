"""Light tuples packed per bundle before a shuffle: the runner's work per element (encode, group,
decode; at two or more local workers, through the launcher as well) is paid per pack instead of per
document or per membership, and the grouped values are the same."""
from __future__ import annotations

from typing import Callable

import apache_beam as beam

PACK_MAX = 1 << 16  # values a bundle holds before it ships its packs


class PackPerBundle(beam.DoFn):
    """``(key, value)`` → ``(key, [value, ...])``, one pack per key per bundle (or per ``PACK_MAX``
    values held). With ``coarse``, packs are made per ``coarse(key)`` and hold the ``(key, value)``
    pairs, for keys too many to group one by one (the consumer splits a pack by key)."""

    def __init__(self, coarse: Callable | None = None) -> None:
        self._coarse = coarse

    def start_bundle(self) -> None:
        self._packs: dict = {}
        self._held = 0

    def process(self, kv):
        if self._coarse is None:
            key, item = kv
        else:
            key, item = self._coarse(kv[0]), kv
        pack = self._packs.get(key)
        if pack is None:
            self._packs[key] = [item]
        else:
            pack.append(item)
        self._held += 1
        if self._held >= PACK_MAX:
            yield from self._ship()

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
