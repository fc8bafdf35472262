"""fasttext's supervised prediction for a whole batch of lines in one native call (numba).

Why: on real documents the stage's time is almost all inside fasttext's per-line ``predict`` (its
cost is per character: a string stream read byte by byte, one ``std::string`` per character n-gram),
and fasttext-predict's list ``predict()`` returns no probabilities. This module reads the model file
itself and runs the same arithmetic over all lines of a batch in one compiled loop.

Equal to fasttext, not approximately: it follows fastText 0.9.2's code step by step — tokens split on
`` \\n\\r\\t\\v\\f\\0``, ``</s>`` ends a line, FNV-1a hashes over UTF-8 bytes with fastText's
sign extension, character n-grams ``minn..maxn`` of ``<word>`` mapped through the pruned-bucket
table, rows added in fastText's order in float32, the hierarchical-softmax tree built from the label
counts and searched depth-first with the same pruning, ``expf``/``log`` as fastText calls them.
``tests/unit/test_langid_fastpredict.py`` compares labels and probabilities bit for bit with the
binding on real multilingual text.

Scope: what lid.176.ftz is — a supervised model with hierarchical softmax, quantized input
(product quantization, quantized norms), dense output, ``wordNgrams`` 1. Any other model (GlotLID,
lid.176.bin, …) makes :func:`load` return ``None``, and the caller keeps using the fasttext binding;
so does a machine with neither the ahead-of-time build (:mod:`pipeline.compiled_kernels`, which
needs no numba in the worker) nor numba.
"""
from __future__ import annotations

import math
import struct
import threading
from pathlib import Path

import numpy as np

FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
LOSS_HS = 1
MODEL_SUPERVISED = 3
KSUB = 256  # centroids per product-quantization subspace (fastText's ksub_)
SEEN_SLOTS = 1 << 18  # words remembered by the kernel: at most half this many …
SEEN_BYTES = 1 << 21  # … with at most this many bytes of words …
SEEN_ROWS = 1 << 22  # … and this many input rows (about 22 MB in all per worker)


class UnsupportedModel(ValueError):
    """The file is a fasttext model this module does not reproduce (the binding is used instead)."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def unpack(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos).copy()
        self.pos += out.nbytes
        return out


def _product_quantizer(r: _Reader) -> tuple[int, int, int, int, np.ndarray]:
    dim, nsubq, dsub, lastdsub = r.unpack("iiii")
    return dim, nsubq, dsub, lastdsub, r.array("<f4", dim * KSUB)


def _centroid(pq, m: int, code: np.ndarray) -> np.ndarray:
    """fastText's ProductQuantizer::get_centroids for subspace m, one code per row → (rows, d)."""
    dim, nsubq, dsub, lastdsub, centroids = pq
    if m == nsubq - 1:
        start = m * KSUB * dsub + code.astype(np.int64) * lastdsub
        d = lastdsub
    else:
        start = (m * KSUB + code.astype(np.int64)) * dsub
        d = dsub
    return centroids[start[:, None] + np.arange(d)[None, :]], d


class ModelTables:
    """The arrays of a fasttext model file that prediction needs."""

    def __init__(self, path: str | Path) -> None:
        r = _Reader(Path(path).read_bytes())
        magic, version = r.unpack("ii")
        if magic != FASTTEXT_MAGIC or version != FASTTEXT_VERSION:
            raise UnsupportedModel("not a fastText 0.9 model file")
        (dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr_rate) = r.unpack("i" * 12)
        r.unpack("d")  # sampling threshold t
        if model != MODEL_SUPERVISED or loss != LOSS_HS or word_ngrams != 1:
            raise UnsupportedModel("only supervised hierarchical-softmax models with wordNgrams 1")
        size, nwords, nlabels = r.unpack("iii")
        _ntokens, pruneidx_size = r.unpack("qq")
        words: list[bytes] = []
        counts: list[int] = []
        for _ in range(size):
            end = r.data.index(b"\0", r.pos)
            words.append(r.data[r.pos : end])
            r.pos = end + 1
            count, _entry_type = r.unpack("qb")
            counts.append(count)
        pairs = r.array("<i4", 2 * max(0, pruneidx_size)).reshape(-1, 2)
        quant_input = r.unpack("?")
        if not quant_input:
            raise UnsupportedModel("only quantized (.ftz) input matrices")
        qnorm, rows, cols = r.unpack("?qq")
        codes = r.array("u1", r.unpack("i")).reshape(rows, -1)
        pq = _product_quantizer(r)
        norms = np.ones(rows, dtype=np.float32)
        if qnorm:
            norm_codes = r.array("u1", rows)
            npq = _product_quantizer(r)
            norms = _centroid(npq, 0, norm_codes)[0][:, 0]
        if r.unpack("?"):
            raise UnsupportedModel("only dense output matrices")
        out_rows, out_cols = r.unpack("qq")
        self.output = r.array("<f4", out_rows * out_cols).reshape(out_rows, out_cols)
        if r.pos != len(r.data) or cols != dim or out_cols != dim or out_rows != nlabels or size != nwords + nlabels:
            raise UnsupportedModel("unexpected model layout")

        # The input matrix decoded once: row r = norm_r * centroid, the product fastText's
        # addcode forms before adding it (float32 x float32, so the sums below are the same).
        self.input = np.empty((rows, dim), dtype=np.float32)
        for m in range(pq[1]):
            cents, d = _centroid(pq, m, codes[:, m])
            self.input[:, m * pq[2] : m * pq[2] + d] = norms[:, None] * cents
        # bucket → row (or -1): fastText's pruneidx_ (every bucket is kept when the model was not pruned)
        if pruneidx_size > 0:
            self.bucket_row = np.full(bucket, -1, dtype=np.int32)
            self.bucket_row[pairs[:, 0]] = nwords + pairs[:, 1]
        elif pruneidx_size < 0:
            self.bucket_row = np.arange(nwords, nwords + bucket, dtype=np.int32)
        else:
            self.bucket_row = np.full(bucket, -1, dtype=np.int32)
        self.bucket_bits = np.packbits(self.bucket_row >= 0, bitorder="little")
        self.minn, self.maxn, self.bucket, self.nwords = minn, maxn, bucket, nwords
        self.labels = [w.decode("utf-8", "replace") for w in words[nwords:]]
        self.tree_left, self.tree_right = _huffman_tree(counts[nwords:])
        # the vocabulary as an open-addressing table over FNV-1a hashes (any exact map gives the same ids)
        self.vocab_bytes = np.frombuffer(b"".join(words[:nwords]), dtype=np.uint8).copy()
        self.vocab_start = np.cumsum([0] + [len(w) for w in words[:nwords]]).astype(np.int64)
        slots = 1 << (2 * nwords).bit_length()
        self.vocab_slot = np.full(slots, -1, dtype=np.int32)
        for wid, w in enumerate(words[:nwords]):
            s = _fnv1a(w) & (slots - 1)
            while self.vocab_slot[s] != -1:
                s = (s + 1) & (slots - 1)
            self.vocab_slot[s] = wid
        self.eos_id = words.index(b"</s>") if b"</s>" in words[:nwords] else -1


def _fnv1a(data: bytes) -> int:
    """fastText's Dictionary::hash: FNV-1a over the bytes, each byte sign-extended (int8_t)."""
    h = 2166136261
    for b in data:
        h = ((h ^ (b | 0xFFFFFF00 if b >= 0x80 else b)) * 16777619) & 0xFFFFFFFF
    return h


def _huffman_tree(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """HierarchicalSoftmaxLoss::buildTree: children of each node (-1 for leaves = labels)."""
    osz = len(counts)
    n = 2 * osz - 1
    count = [10**15] * n
    count[:osz] = counts
    left = np.full(n, -1, dtype=np.int32)
    right = np.full(n, -1, dtype=np.int32)
    leaf, node = osz - 1, osz
    for i in range(osz, n):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j] = leaf
                leaf -= 1
            else:
                mini[j] = node
                node += 1
        left[i], right[i] = mini
        count[i] = count[mini[0]] + count[mini[1]]
    return left, right


f32 = np.float32
# the compiled helpers, set by jit_kernel() (_predict_lines_py calls them by these names)
_ngram_rows = None
_lookup = None


def _ngram_rows_py(word, a, b, minn, maxn, bucket, bucket_row, bucket_bits, ids, nids):
    # Dictionary::computeSubwords over "<" + word[a:b] + ">", with pushHash's pruning
    length = b - a + 2
    for i in range(length):
        c = 60 if i == 0 else (62 if i == length - 1 else word[a + i - 1])
        if (c & 0xC0) == 0x80:
            continue
        h = 2166136261
        j = i
        n = 1
        while j < length and n <= maxn:
            c = 60 if j == 0 else (62 if j == length - 1 else word[a + j - 1])
            h = ((h ^ (c | 0xFFFFFF00 if c >= 0x80 else c)) * 16777619) & 0xFFFFFFFF
            j += 1
            while j < length:
                c = 60 if j == length - 1 else word[a + j - 1]
                if (c & 0xC0) != 0x80:
                    break
                h = ((h ^ (c | 0xFFFFFF00 if c >= 0x80 else c)) * 16777619) & 0xFFFFFFFF
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == length)):
                hb = h % bucket
                # most n-grams were pruned from the model: a bit table small enough for the CPU's
                # cache says so before the large bucket → row table is read
                if bucket_bits[hb >> 3] & (1 << (hb & 7)):
                    row = bucket_row[hb]
                    ids[nids] = row
                    nids += 1
            n += 1
    return nids

def _lookup_py(slots, starts, arena, text, a, b, h):
    """Index of the word text[a:b] (hash h) in an open-addressing table over words stored
    back to back in arena (word i = arena[starts[i]:starts[i + 1]]); -1 when absent."""
    mask = slots.shape[0] - 1
    s = h & mask
    while slots[s] != -1:
        w = slots[s]
        ws, we = starts[w], starts[w + 1]
        if we - ws == b - a:
            same = True
            for k in range(b - a):
                if arena[ws + k] != text[a + k]:
                    same = False
                    break
            if same:
                return w
        s = (s + 1) & mask
    return -1


def _predict_lines_py(text, starts, minn, maxn, bucket, bucket_row, bucket_bits, vocab_bytes, vocab_start, vocab_slot,
                      eos_id, inputs, output, left, right, log_threshold, out_label, out_prob,
                      seen_slot, seen_start, seen_bytes, seen_row_start, seen_rows, seen_used):
    dim = inputs.shape[1]
    seen_mask = seen_slot.shape[0] - 1
    osz = output.shape[0]
    hidden = np.zeros(dim, dtype=np.float32)
    ids = np.empty(64, dtype=np.int32)
    stack_node = np.empty(4 * osz, dtype=np.int32)
    stack_score = np.empty(4 * osz, dtype=np.float32)
    for line in range(starts.shape[0] - 1):
        pos, end = starts[line], starts[line + 1]  # text[pos:end] is the line; fastText sees it + "\n"
        hidden[:] = 0
        count = 0
        while True:
            while pos < end and (text[pos] == 32 or text[pos] == 9 or text[pos] == 13 or text[pos] == 11
                                 or text[pos] == 12 or text[pos] == 0 or text[pos] == 10):
                pos += 1
            a = pos
            while pos < end and not (text[pos] == 32 or text[pos] == 9 or text[pos] == 13 or text[pos] == 11
                                     or text[pos] == 12 or text[pos] == 0 or text[pos] == 10):
                pos += 1
            b = pos
            if a == b:  # end of line: the "</s>" token
                if eos_id >= 0:
                    for d in range(dim):
                        hidden[d] += inputs[eos_id, d]
                    count += 1
                break
            h = 2166136261
            for k in range(a, b):
                c = text[k]
                h = ((h ^ (c | 0xFFFFFF00 if c >= 0x80 else c)) * 16777619) & 0xFFFFFFFF
            # a word seen before (in this call or an earlier one): its rows, in the order found then
            entry = _lookup(seen_slot, seen_start, seen_bytes, text, a, b, h)
            if entry >= 0:
                r0, r1 = seen_row_start[entry], seen_row_start[entry + 1]
                for t in range(r0, r1):
                    r = seen_rows[t]
                    for d in range(dim):
                        hidden[d] += inputs[r, d]
                count += r1 - r0
                continue
            wid = _lookup(vocab_slot, vocab_start, vocab_bytes, text, a, b, h)
            if wid < 0 and b - a >= 9:  # "__label__…": a label, not a word
                lab = True
                for k in range(9):
                    if text[a + k] != (95, 95, 108, 97, 98, 101, 108, 95, 95)[k]:
                        lab = False
                        break
                if lab:
                    continue
            if wid >= 0 and wid == eos_id:  # a literal "</s>" ends the line for fastText
                for d in range(dim):
                    hidden[d] += inputs[eos_id, d]
                count += 1
                break
            need = 1 + maxn * (b - a + 2)
            if ids.shape[0] < need:
                ids = np.empty(2 * need, dtype=np.int32)
            nids = 0
            if wid >= 0:
                ids[0] = wid
                nids = 1
            nids = _ngram_rows(text, a, b, minn, maxn, bucket, bucket_row, bucket_bits, ids, nids)
            for t in range(nids):
                r = ids[t]
                for d in range(dim):
                    hidden[d] += inputs[r, d]
            count += nids
            # remember the word (the table starts over when any of its arrays is full)
            n_seen, bytes_used, rows_used = seen_used[0], seen_used[1], seen_used[2]
            if (n_seen + 1 >= seen_start.shape[0] or 2 * (n_seen + 1) > seen_slot.shape[0]
                    or bytes_used + (b - a) > seen_bytes.shape[0] or rows_used + nids > seen_rows.shape[0]):
                if (b - a) > seen_bytes.shape[0] or nids > seen_rows.shape[0]:
                    continue
                seen_slot[:] = -1
                n_seen, bytes_used, rows_used = 0, 0, 0
            s = h & seen_mask
            while seen_slot[s] != -1:
                s = (s + 1) & seen_mask
            seen_slot[s] = n_seen
            for k in range(b - a):
                seen_bytes[bytes_used + k] = text[a + k]
            for t in range(nids):
                seen_rows[rows_used + t] = ids[t]
            seen_start[n_seen + 1] = bytes_used + (b - a)
            seen_row_start[n_seen + 1] = rows_used + nids
            seen_used[0], seen_used[1], seen_used[2] = n_seen + 1, bytes_used + (b - a), rows_used + nids
        if count == 0:
            out_label[line] = -1
            out_prob[line] = 0.0
            continue
        scale = f32(1.0 / count)
        for d in range(dim):
            hidden[d] = hidden[d] * scale
        # HierarchicalSoftmaxLoss::dfs with k = 1: the best leaf, later leaves winning ties
        best_label = -1
        best_score = f32(0.0)
        stack_node[0] = 2 * osz - 2
        stack_score[0] = f32(0.0)
        top = 1
        while top > 0:
            top -= 1
            node = stack_node[top]
            score = stack_score[top]
            if score < log_threshold:
                continue
            if best_label >= 0 and score < best_score:
                continue
            if left[node] == -1 and right[node] == -1:
                best_label = node
                best_score = score
                continue
            dot = f32(0.0)
            for d in range(dim):
                dot = dot + output[node - osz, d] * hidden[d]
            e = math.exp(-dot)
            f = f32(1.0 / (f32(1.0) + e))
            x_left = f32(1.0 - f)
            x_right = f
            stack_node[top] = right[node]
            stack_score[top] = score + f32(math.log(np.float64(x_right) + 1e-5))
            stack_node[top + 1] = left[node]
            stack_score[top + 1] = score + f32(math.log(np.float64(x_left) + 1e-5))
            top += 2
        out_label[line] = best_label
        out_prob[line] = math.exp(best_score)


_JIT_KERNEL = None


def jit_kernel(name: str = "predict_lines"):
    """The numba (JIT) batch predictor (numba is imported only here, on first use)."""
    global _ngram_rows, _lookup, _JIT_KERNEL
    if name != "predict_lines":
        raise KeyError(name)
    if _JIT_KERNEL is None:
        import numba

        def jit(fn):
            try:
                return numba.njit(cache=True, nogil=True)(fn)
            except RuntimeError:  # no writable cache folder: compile in memory
                return numba.njit(nogil=True)(fn)

        _ngram_rows, _lookup = jit(_ngram_rows_py), jit(_lookup_py)
        _JIT_KERNEL = jit(_predict_lines_py)
    return _JIT_KERNEL


def _compile():
    """The batch predictor: the ahead-of-time compiled kernel (pipeline.compiled_kernels) when it
    was built from this source, else the JIT one."""
    from pipeline import compiled_kernels

    if compiled_kernels.available():
        return compiled_kernels.dispatch("predict_lines")
    return jit_kernel()


class FastPredictor:
    """Label index and probability of many lines in one call, equal to the model's own predict."""

    def __init__(self, tables: ModelTables, kernel) -> None:
        self.t = tables
        self._kernel = kernel
        # std_log(threshold) with threshold 0: log(0 + 1e-5) as fastText rounds it to float
        self._log_threshold = np.float32(math.log(0.0 + 1e-5))
        # Words seen before and their rows (word id, then character n-grams): the kernel adds the same
        # rows in the same order without hashing the word again. Bounded; started over when full.
        self._seen_slot = np.full(SEEN_SLOTS, -1, dtype=np.int32)
        self._seen_start = np.zeros(SEEN_SLOTS // 2 + 1, dtype=np.int64)
        self._seen_bytes = np.empty(SEEN_BYTES, dtype=np.uint8)
        self._seen_row_start = np.zeros(SEEN_SLOTS // 2 + 1, dtype=np.int64)
        self._seen_rows = np.empty(SEEN_ROWS, dtype=np.int32)
        self._seen_used = np.zeros(3, dtype=np.int64)
        self._lock = threading.Lock()  # the tables above are written by each call

    def forget(self) -> None:
        """Empty the table of words seen before (benchmarks start every run cold)."""
        with self._lock:
            self._seen_slot[:] = -1
            self._seen_used[:] = 0

    @property
    def labels(self) -> list[str]:
        return self.t.labels

    def predict(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(label index, probability) per line; index -1 for a line with no token (probability 0).
        A line must not contain a newline (as with fasttext's predict)."""
        t = self.t
        # all lines encoded at once, each followed by a newline: a line's range then ends with its
        # newline, which fastText reads (it predicts line + "\n") as the whitespace before the line's end
        text = np.frombuffer("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n", dtype=np.uint8)
        ends = np.flatnonzero(text == 10)
        if len(ends) == len(lines):
            starts = np.zeros(len(lines) + 1, dtype=np.int64)
            starts[1:] = ends + 1
        else:  # a line holding a newline itself (not a line fastText would predict as one): one by one
            encoded = [line.encode("utf-8", "surrogatepass") for line in lines]
            starts = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum([len(e) for e in encoded], out=starts[1:])
            text = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        out_label = np.empty(len(lines), dtype=np.int32)
        out_prob = np.empty(len(lines), dtype=np.float32)
        with self._lock:
            self._kernel(text, starts, t.minn, t.maxn, t.bucket, t.bucket_row, t.bucket_bits, t.vocab_bytes, t.vocab_start, t.vocab_slot,
                         t.eos_id, t.input, t.output, t.tree_left, t.tree_right, self._log_threshold, out_label, out_prob,
                         self._seen_slot, self._seen_start, self._seen_bytes, self._seen_row_start, self._seen_rows, self._seen_used)
        return out_label, out_prob


def load(path: str | Path) -> FastPredictor | None:
    """The fast predictor for this model file, or None when the model or the machine does not allow it."""
    try:
        tables = ModelTables(path)
        kernel = _compile()
    except (UnsupportedModel, ImportError, OSError, struct.error, ValueError, IndexError):
        return None
    return FastPredictor(tables, kernel)
