/* tf.Example and TFRecord wire codec for headwater.io, called once per batch.
 *
 * decode(), decode_records() (_wire_decode.c): serialized tf.Examples -> per-feature columnar
 *     buffers (counts, values, offsets), on several threads without the GIL.
 * encode() (_wire_encode.c): per-feature columnar buffers -> serialized tf.Examples, TFRecord
 *     framed or not, or their hash-split buckets.
 * record_buckets(), span_buckets(), sha256() (_wire_hash.c): TFX's SHA-256 hash-split buckets.
 * unframe() (here): TFRecord framing -> record spans, every CRC (_wire_crc.c) checked;
 *     frame(): records (each k pieces joined) -> TFRecord framing.
 * The Python side (example_wire.py) turns these buffers into numpy / Arrow arrays. No Python
 * object is created per value; all loops over records and values are in C.
 */
#include "_wire.h"

/* ------------------------------------------------------------------ TFRecord framing */

static PyObject *unframe(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    const uint8_t *p = data.buf;
    Py_ssize_t size = data.len, pos = 0;
    Buf starts = {0}, ends = {0};
    const char *bad = NULL;
    int no_memory = 0;
    PyObject *result = NULL;
    Py_BEGIN_ALLOW_THREADS
    while (size - pos >= 12) {
        uint64_t len;
        uint32_t crc;
        memcpy(&len, p + pos, 8);
        memcpy(&crc, p + pos + 8, 4);
        if (hw_masked_crc(p + pos, 8) != crc) {
            bad = "bad record length CRC (corrupt length field)";
            break;
        }
        if (size - pos < 16 || len > (uint64_t)(size - pos - 16)) break; /* needs more data */
        int64_t a = pos + 12, b = pos + 12 + (Py_ssize_t)len;
        memcpy(&crc, p + b, 4);
        if (hw_masked_crc(p + a, (size_t)len) != crc) {
            bad = "bad record data CRC (corrupt record)";
            break;
        }
        if (buf_put(&starts, &a, 8) < 0 || buf_put(&ends, &b, 8) < 0) {
            no_memory = 1;
            break;
        }
        pos = b + 4;
    }
    Py_END_ALLOW_THREADS
    if (no_memory) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *error = bad ? Py_BuildValue("(snn)", bad, starts.len / 8, pos) : Py_NewRef(Py_None);
    if (!error) goto done;
    /* No '#' format here: CPython 3.13's headers call Py_BuildValue itself even for the 3.11
     * stable ABI, and on a 3.11 or 3.12 interpreter that symbol is the int-length variant, which
     * refuses '#' ("PY_SSIZE_T_CLEAN macro must be defined") -- so a wheel built by 3.13 broke
     * on older Pythons. Bytes objects built here and passed with "N" work under every header. */
    PyObject *s = PyBytes_FromStringAndSize(starts.p ? starts.p : "", starts.len);
    PyObject *e = s ? PyBytes_FromStringAndSize(ends.p ? ends.p : "", ends.len) : NULL;
    if (!e) {
        Py_XDECREF(s);
        Py_DECREF(error);
        goto done;
    }
    result = Py_BuildValue("(NNnN)", s, e, pos, error);
done:
    buf_free(&starts);
    buf_free(&ends);
    PyBuffer_Release(&data);
    return result;
}

/* frame(pieces, k): TFRecord framing of records that are each k consecutive pieces (bytes)
 * joined: one buffer `len | masked_crc(len) | data | masked_crc(data)` per record, little-endian.
 * Callers build records from shared parts (a prefix, the example, a response row) without
 * joining them in Python first. */
static PyObject *frame(PyObject *self, PyObject *args) {
    PyObject *pieces;
    Py_ssize_t k;
    Spans spans;
    if (!PyArg_ParseTuple(args, "On", &pieces, &k)) return NULL;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "k must be >= 1");
        return NULL;
    }
    if (hw_spans_of_records(&spans, pieces) < 0) return NULL;
    if (spans.n % k) {
        PyErr_Format(PyExc_ValueError, "%zd pieces are not records of %zd pieces each", spans.n, k);
        hw_spans_release(&spans);
        return NULL;
    }
    Py_ssize_t records = spans.n / k, total = 16 * records;
    for (Py_ssize_t i = 0; i < spans.n; i++) total += spans.lens[i];
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (!out) {
        hw_spans_release(&spans);
        return NULL;
    }
    uint8_t *o = (uint8_t *)PyBytes_AsString(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < records; r++) {
        uint64_t len = 0;
        for (Py_ssize_t j = 0; j < k; j++) len += (uint64_t)spans.lens[r * k + j];
        memcpy(o, &len, 8);
        uint32_t crc = hw_masked_crc(o, 8);
        memcpy(o + 8, &crc, 4);
        uint8_t *data = o + 12, *w = data;
        for (Py_ssize_t j = 0; j < k; j++) {
            memcpy(w, spans.ptrs[r * k + j], (size_t)spans.lens[r * k + j]);
            w += spans.lens[r * k + j];
        }
        crc = hw_masked_crc(data, (size_t)len);
        memcpy(w, &crc, 4);
        o = w + 4;
    }
    Py_END_ALLOW_THREADS
    hw_spans_release(&spans);
    return out;
}

static PyObject *py_crc_instruction(PyObject *self, PyObject *args) {
    return PyBool_FromLong(hw_crc_instruction());
}

static PyObject *py_masked_crc(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    uint32_t c = hw_masked_crc(data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(c);
}

static PyMethodDef METHODS[] = {
    {"decode", hw_decode, METH_VARARGS,
     "decode(data, starts, ends, names|None, threads=1) -> [(name, kind, counts, values, offsets|None)]"},
    {"decode_records", hw_decode_records, METH_VARARGS,
     "decode_records(records, names|None, threads=1) -> [(name, kind, counts, values, offsets|None)]"},
    {"encode", hw_encode, METH_VARARGS,
     "encode(n, [(key, kind, counts, values, offsets|None)], mode, buckets=0, threads=1) -> list[bytes] | bytes"},
    {"unframe", unframe, METH_VARARGS,
     "unframe(data) -> (starts, ends, consumed, None | (message, record, offset))"},
    {"frame", frame, METH_VARARGS,
     "frame(pieces, k) -> bytes: TFRecord-framed records, each k consecutive pieces joined"},
    {"masked_crc32c", py_masked_crc, METH_VARARGS, "TensorFlow's masked CRC32C of data."},
    {"crc_instruction", py_crc_instruction, METH_NOARGS,
     "Whether CRC32C runs on the CPU's CRC32 instruction."},
    {"sha256", hw_py_sha256, METH_VARARGS, "SHA-256 digest of data (checked against hashlib)."},
    {"span_buckets", hw_span_buckets, METH_VARARGS,
     "span_buckets(data, starts, ends, total, threads=1, canonical=False) -> int64 bytes"},
    {"sha_ni", hw_py_sha_ni, METH_NOARGS, "Whether SHA-256 runs on the CPU's SHA extensions."},
    {"record_buckets", hw_record_buckets, METH_VARARGS,
     "record_buckets(records, total, threads=1) -> int64 bytes: SHA-256 of each record mod total"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_wire",
                                    "tf.Example / TFRecord wire codec (see example_wire.py).", -1,
                                    METHODS};

PyMODINIT_FUNC PyInit__wire(void) {
    hw_crc_init();
    hw_hash_init();
    PyObject *m = PyModule_Create(&MODULE);
    if (!m) return NULL;
    hw_WireError = PyErr_NewException("headwater.io._wire.WireError", PyExc_ValueError, NULL);
    if (!hw_WireError || PyModule_AddObject(m, "WireError", hw_WireError) < 0) {
        Py_XDECREF(hw_WireError);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(hw_WireError);
    return m;
}
