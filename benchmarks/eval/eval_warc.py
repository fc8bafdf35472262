"""WARC reading vs warcio's own test archives (valid and deliberately broken).

Ground truth: the archives in warcio's ``test/data/`` (a checkout of the warcio repository,
webrecorder/warcio, at ``$CURATE_EVAL_DATA/warcio``). For every ``.warc``/``.warc.gz`` there:

* warcio's count: records its own ``ArchiveIterator`` yields before it stops or raises;
* an independent count: ``WARC/1.x`` record header lines at line starts in the file's bytes,
  after decompressing each gzip member with zlib on its own (and the members counted);
* ours: every WARC record ingest parses (any type: the page filter comes after), matched by
  ``WARC-Record-ID`` against the IDs found by the independent scan, and the quarantine rows.

Then the same for damage done here to each valid ``.warc.gz`` (one member's deflate data
overwritten, one record's Content-Length overstated fifty-fold, the last member cut in half, the
whole file recompressed as one member, members cut at arbitrary points): what is expected back is
every record whose bytes the damage left intact.
"""
from __future__ import annotations

import gzip
import re
import shutil
import sys
import tempfile
import zlib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common import pct, require, table  # noqa: E402

TITLE = "WARC recovery vs warcio's test archives"
HOW = ("put a checkout of the warcio repository (webrecorder/warcio) at $CURATE_EVAL_DATA/warcio, "
       "e.g. `git clone <warcio repository> benchmarks/work/eval/warcio`; only test/data/ is read")
_HEADER = re.compile(rb"(?:^|\n)WARC/1\.[01]\r?\n")
_RECORD_ID = re.compile(rb"(?:^|\n)WARC/1\.[01]\r?\n(?:[^\r\n]+\r?\n)*?WARC-Record-ID:\s*(<[^>\r\n]+>)", re.I)


def members(data: bytes) -> list[tuple[int, bytes | None]]:
    """(offset, decompressed bytes or None when the member is corrupt or cut) per gzip member,
    found by zlib alone; after a bad member the next ``1f 8b 08`` is tried."""
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(wbits=31)
        try:
            plain = d.decompress(data[pos:])
            ok = d.eof
        except zlib.error:
            plain, ok = None, False
        if ok:
            out.append((pos, plain))
            pos = len(data) - len(d.unused_data)
            continue
        out.append((pos, None))
        nxt = data.find(b"\x1f\x8b\x08", pos + 1)
        if nxt < 0:
            break
        pos = nxt
    return out


def independent(data: bytes, gz: bool) -> tuple[list[bytes], int | None]:
    """Record IDs whose record header is intact, and the number of gzip members (None: plain)."""
    if not gz:
        return _RECORD_ID.findall(data), None
    parts = members(data)
    plain = b"".join(p for _, p in parts if p is not None)
    return _RECORD_ID.findall(plain), len(parts)


def warcio_ids(path: Path) -> tuple[list[bytes], str]:
    """Record IDs warcio's own iterator yields before it stops, and how it stops."""
    from warcio.archiveiterator import ArchiveIterator

    ids: list[bytes] = []
    try:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                ids.append((rec.rec_headers.get_header("WARC-Record-ID") or "").encode())
    except Exception as exc:  # noqa: BLE001 - the baseline's own failure is the result
        return ids, type(exc).__name__
    return ids, "-"


def matched(got: list[bytes], truth: list[bytes]) -> int:
    """IDs may repeat (warcio's digest tests reuse one): matched as multisets."""
    return sum((Counter(got) & Counter(truth)).values())


def ours(path: Path) -> tuple[list[bytes], list[dict]]:
    """WARC-Record-IDs ingest parsed, and its quarantine rows."""
    from pipeline.config import RunConfig
    from pipeline.io.discovery import expand_inputs
    from pipeline.io.readers.warc import WarcFileReader
    from pipeline.io.splits import Split, whole_file_item
    from pipeline.io.streams import CountingReader, open_raw

    ids: list[bytes] = []
    f = expand_inputs([str(path)])[0]
    sp = Split(whole_file_item(f), RunConfig(), "eval")
    reader = WarcFileReader(sp)
    reader.on_record = lambda index, offset, rec: ids.append((rec.rec_headers.get_header("WARC-Record-ID") or "").encode())
    counter = CountingReader(open_raw(f["uri"]))
    try:
        layout = reader.read_members if f["compression"] == "gzip" else reader.read_plain
        rows = [v for tag, v in layout(counter) if tag == "quarantine"]
    finally:
        counter.close()
    return ids, rows


def damaged(data: bytes) -> dict[str, tuple[bytes, bytes | None]]:
    """Damaged copies: label → (bytes, the one record ID the damage spoils though its header is
    intact, else None)."""
    parts = members(data)
    raw = [data[off : (parts[i + 1][0] if i + 1 < len(parts) else len(data))] for i, (off, _) in enumerate(parts)]
    plain = b"".join(p for _, p in parts if p is not None)
    out: dict[str, tuple[bytes, bytes | None]] = {}
    if len(raw) >= 3:
        mid = len(raw) // 2
        bad = bytearray(raw[mid])
        bad[len(bad) // 2 : len(bad) // 2 + 6] = b"\xff" * 6
        out["one member overwritten"] = (b"".join(raw[:mid]) + bytes(bad) + b"".join(raw[mid + 1 :]), None)
        # the middle member's Content-Length claims 50 times its block: it swallows what follows
        inner = parts[mid][1]
        length = re.search(rb"\nContent-Length:\s*(\d+)", inner, re.I)
        spoiled = _RECORD_ID.findall(inner)
        if length and spoiled:
            inflated = inner[: length.start(1)] + str(int(length.group(1)) * 50 + 1000).encode() + inner[length.end(1) :]
            out["one Content-Length overstated"] = (b"".join(raw[:mid]) + gzip.compress(inflated) + b"".join(raw[mid + 1 :]), spoiled[0])
    out["last member cut in half"] = (b"".join(raw[:-1]) + raw[-1][: len(raw[-1]) // 2], None)
    out["recompressed as one member"] = (gzip.compress(plain), None)
    cuts = sorted({0, len(plain)} | {len(plain) * k // 5 + 7 for k in range(1, 5)})
    out["members cut mid-record"] = (b"".join(gzip.compress(plain[a:b]) for a, b in zip(cuts, cuts[1:])), None)
    return out


def _score(path: Path, gz: bool, spoiled: bytes | None = None) -> tuple[int, int, int, list[dict], tuple[int, str], int | None]:
    """(records in the independent scan, ours matched, ours not in the scan, our quarantine rows,
    (warcio matched, how warcio stopped), gzip members). ``spoiled``: an ID not to expect back."""
    truth, n_members = independent(path.read_bytes(), gz)
    if spoiled is not None:
        truth.remove(spoiled)
    got, rows = ours(path)
    extra = sum((Counter(got) - Counter(truth)).values())
    w_ids, w_stop = warcio_ids(path)
    return len(truth), matched(got, truth), extra, rows, (matched(w_ids, truth), w_stop), n_members


def evaluate(data: Path) -> str:
    src = require(data / "warcio" / "test" / "data", HOW)
    tmp = Path(tempfile.mkdtemp(prefix="eval-warc-"))
    rows, totals = [], [0, 0, 0]
    damage_rows, damage_totals = [], [0, 0, 0]
    skipped = []
    try:
        for f in sorted(src.iterdir()):
            name = f.name[: -len(".bad")] if f.name.endswith(".bad") else f.name
            if not (name.endswith(".warc") or name.endswith(".warc.gz")):
                skipped.append(f.name)
                continue
            gz = name.endswith(".gz")
            copy = tmp / name
            shutil.copy(f, copy)
            n_truth, recovered, extra, q, (w_n, w_fail), n_members = _score(copy, gz)
            totals[0] += n_truth
            totals[1] += recovered
            totals[2] += w_n
            reasons = ", ".join(f"{r['reason']}@{r['offset']}" for r in q) or "-"
            rows.append([f.name, n_members if n_members is not None else "plain", n_truth, f"{pct(w_n, n_truth)} ({w_fail})",
                         pct(recovered, n_truth), extra, reasons])
            if gz and w_fail == "-":
                for label, (blob, spoiled) in damaged(copy.read_bytes()).items():
                    bad = tmp / f"{label.replace(' ', '-')}-{name}"
                    bad.write_bytes(blob)
                    n_truth, recovered, extra, q, (w_n, w_fail), _ = _score(bad, True, spoiled)
                    damage_totals[0] += n_truth
                    damage_totals[1] += recovered
                    damage_totals[2] += w_n
                    reasons = ", ".join(f"{r['reason']}@{r['offset']}" for r in q) or "-"
                    damage_rows.append([f.name, label, n_truth, f"{pct(w_n, n_truth)} ({w_fail})", pct(recovered, n_truth), extra, reasons])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = [
        "Records read, matched by `WARC-Record-ID` against an independent scan (zlib per gzip member, "
        "`WARC/1.x` header lines; a cut or corrupt member's records are not in it). \"warcio\" is what "
        "warcio's own iterator yields before it stops, matched the same way (its exception in "
        "brackets). \"ours not in scan\": records we returned that the scan does not hold (0 = none "
        "invented). Quarantine rows as `reason@offset`.",
        "",
        f"**warcio's archives: {pct(totals[1], totals[0])} records recovered (warcio itself: {pct(totals[2], totals[0])}).**",
        "",
        table(["file", "gzip members", "records (independent)", "warcio", "ours recovered", "ours not in scan", "quarantine"], rows),
        "",
        f"**Damaged here: {pct(damage_totals[1], damage_totals[0])} intact records recovered "
        f"(warcio itself: {pct(damage_totals[2], damage_totals[0])}).**",
        "",
        table(["from", "damage", "intact records", "warcio", "ours recovered", "ours not in scan", "quarantine"], damage_rows),
    ]
    if skipped:
        out += ["", f"Not scored (not an ingest format: ARC): {', '.join(skipped)}."]
    return "\n".join(out)


if __name__ == "__main__":
    from common import data_dir

    print(evaluate(data_dir()))
