"""Format readers behind one interface (:class:`~pipeline.io.readers.base.Reader`), registered by
format name: JSONL, ``.txt``, Parquet and WARC. Importing this package registers all four."""
from pipeline.io.readers import jsonl, parquet, txt, warc  # noqa: F401 - each registers its reader
from pipeline.io.readers.base import FORMAT_EXTS, READERS, Reader, register

__all__ = ["FORMAT_EXTS", "READERS", "Reader", "register"]
