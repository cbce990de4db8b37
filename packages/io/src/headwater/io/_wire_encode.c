/* tf.Example encoding: per-feature columnar buffers -> serialized tf.Examples, as a list of
 * bytes, as TFRecord-framed bytes (length, masked CRC32C, data, masked CRC32C), as Feature
 * messages, or straight to their hash-split buckets. */
#include "_wire.h"

typedef struct {
    Py_buffer key, counts, values, offsets;
    int kind, has_offsets;
    Py_ssize_t cursor; /* next value index */
    Py_ssize_t payload, feature, entry; /* sizes for the current record */
} Col;

static const char KIND_TAG[] = {0, 0x0A, 0x12, 0x1A};

enum { OUT_RECORDS = 0, OUT_FRAMED = 1, OUT_FEATURES = 2 };

/* encode(n, columns, mode, buckets=0, threads=1): OUT_RECORDS a list of serialized Examples, OUT_FRAMED one
 * bytes of TFRecord-framed Examples, OUT_FEATURES a list of the first column's serialized Feature
 * messages. With buckets > 0 (records or features), the int64 SHA-256 bucket of each serialized row
 * instead (as one bytes), hashed on `threads` threads. A column of kind K_NONE writes each present
 * feature as an empty Feature (no value list). */
PyObject *hw_encode(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *columns;
    int mode;
    unsigned long long buckets = 0;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "nOi|Ki", &n, &columns, &mode, &buckets, &threads)) return NULL;
    if (mode < OUT_RECORDS || mode > OUT_FEATURES || (buckets && mode == OUT_FRAMED) ||
        buckets >= MAX_BUCKETS) {
        PyErr_SetString(PyExc_ValueError, "bad encode mode or bucket total");
        return NULL;
    }
    int framed = mode == OUT_FRAMED, features_only = mode == OUT_FEATURES;
    Py_ssize_t m = PySequence_Size(columns);
    if (m < 0) return NULL;
    Col *cols = PyMem_Calloc((size_t)(m ? m : 1), sizeof(Col));
    if (!cols) return PyErr_NoMemory();
    PyObject *result = NULL, *list = NULL;
    Buf out = {0};
    int64_t *ends = NULL;
    Py_ssize_t got = 0;
    for (; got < m; got++) {
        PyObject *item = PySequence_GetItem(columns, got);
        if (!item) goto done;
        Col *c = &cols[got];
        PyObject *offsets_obj;
        int ok = PyArg_ParseTuple(item, "y*iy*y*O", &c->key, &c->kind, &c->counts, &c->values, &offsets_obj);
        if (ok && offsets_obj != Py_None) {
            ok = PyObject_GetBuffer(offsets_obj, &c->offsets, PyBUF_SIMPLE) == 0;
            c->has_offsets = ok;
        }
        Py_DECREF(item);
        if (!ok) {
            got++;
            goto done;
        }
        if (c->counts.len / 8 < n || c->kind < K_NONE || c->kind > K_INT64 ||
            (c->kind == K_BYTES && !c->has_offsets)) {
            PyErr_SetString(PyExc_ValueError, "bad column buffers");
            got++;
            goto done;
        }
        /* The value buffers must hold every value the counts announce (memory safety). */
        int64_t total = 0;
        for (Py_ssize_t r = 0; r < n; r++) {
            int64_t k = ((const int64_t *)c->counts.buf)[r];
            if (k > 0) total += k;
        }
        int ok_sizes;
        if (c->kind == K_NONE) {
            ok_sizes = total == 0; /* present features carry no values */
        } else if (c->kind == K_BYTES) {
            const int64_t *off = (const int64_t *)c->offsets.buf;
            ok_sizes = c->offsets.len / 8 >= total + 1 && off[0] == 0 && off[total] <= c->values.len;
            for (int64_t k = 0; ok_sizes && k < total; k++) ok_sizes = off[k] <= off[k + 1];
        } else {
            ok_sizes = c->values.len / (c->kind == K_FLOAT ? 4 : 8) >= total;
        }
        if (!ok_sizes) {
            PyErr_SetString(PyExc_ValueError, "value buffers shorter than the counts say");
            got++;
            goto done;
        }
    }
    if (!framed) {
        ends = PyMem_Malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        if (!ends) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        uint64_t total = 0;
        for (Py_ssize_t j = 0; j < m; j++) {
            Col *c = &cols[j];
            int64_t count = ((const int64_t *)c->counts.buf)[r];
            if (count < 0) continue;
            uint64_t payload = 0;
            if (c->kind == K_FLOAT) {
                if (count) payload = 1 + varint_size(4 * (uint64_t)count) + 4 * (uint64_t)count;
            } else if (c->kind == K_INT64) {
                const int64_t *v = (const int64_t *)c->values.buf + c->cursor;
                uint64_t bytes = 0;
                for (int64_t k = 0; k < count; k++) bytes += varint_size((uint64_t)v[k]);
                if (count) payload = 1 + varint_size(bytes) + bytes;
            } else {
                const int64_t *off = (const int64_t *)c->offsets.buf + c->cursor;
                for (int64_t k = 0; k < count; k++) {
                    uint64_t len = (uint64_t)(off[k + 1] - off[k]);
                    payload += 1 + varint_size(len) + len;
                }
            }
            uint64_t klen = (uint64_t)c->key.len;
            uint64_t feature = c->kind == K_NONE ? 0 : 1 + varint_size(payload) + payload;
            uint64_t entry = 1 + varint_size(klen) + klen + 1 + varint_size(feature) + feature;
            c->payload = (Py_ssize_t)payload;
            c->feature = (Py_ssize_t)feature;
            c->entry = (Py_ssize_t)entry;
            total += 1 + varint_size(entry) + entry;
        }
        uint64_t size = 1 + varint_size(total) + total;
        if (buf_reserve(&out, (Py_ssize_t)size + 16) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        char *start = out.p + out.len;
        char *w = start + (framed ? 12 : 0);
        if (!features_only) {
            *w++ = 0x0A;
            w = put_varint(w, total);
        }
        for (Py_ssize_t j = 0; j < (features_only && m ? 1 : m); j++) {
            Col *c = &cols[j];
            int64_t count = ((const int64_t *)c->counts.buf)[r];
            if (count < 0) continue;
            if (!features_only) {
                *w++ = 0x0A;
                w = put_varint(w, (uint64_t)c->entry);
                *w++ = 0x0A;
                w = put_varint(w, (uint64_t)c->key.len);
                memcpy(w, c->key.buf, (size_t)c->key.len);
                w += c->key.len;
                *w++ = 0x12;
                w = put_varint(w, (uint64_t)c->feature);
            }
            if (c->kind == K_NONE) continue;
            *w++ = KIND_TAG[c->kind];
            w = put_varint(w, (uint64_t)c->payload);
            if (c->kind == K_FLOAT) {
                if (count) {
                    *w++ = 0x0A;
                    w = put_varint(w, 4 * (uint64_t)count);
                    memcpy(w, (const float *)c->values.buf + c->cursor, 4 * (size_t)count);
                    w += 4 * count;
                }
            } else if (c->kind == K_INT64) {
                if (count) {
                    const int64_t *v = (const int64_t *)c->values.buf + c->cursor;
                    uint64_t bytes = 0;
                    for (int64_t k = 0; k < count; k++) bytes += varint_size((uint64_t)v[k]);
                    *w++ = 0x0A;
                    w = put_varint(w, bytes);
                    for (int64_t k = 0; k < count; k++) w = put_varint(w, (uint64_t)v[k]);
                }
            } else {
                const int64_t *off = (const int64_t *)c->offsets.buf + c->cursor;
                const char *data = c->values.buf;
                for (int64_t k = 0; k < count; k++) {
                    uint64_t len = (uint64_t)(off[k + 1] - off[k]);
                    *w++ = 0x0A;
                    w = put_varint(w, len);
                    memcpy(w, data + off[k], (size_t)len);
                    w += len;
                }
            }
            c->cursor += count;
        }
        if (framed) {
            uint64_t len = size;
            memcpy(start, &len, 8);
            uint32_t crc = hw_masked_crc((const uint8_t *)start, 8);
            memcpy(start + 8, &crc, 4);
            crc = hw_masked_crc((const uint8_t *)start + 12, (size_t)size);
            memcpy(w, &crc, 4);
            w += 4;
        }
        out.len = w - out.p;
        if (!framed) ends[r] = (int64_t)out.len;
    }
    if (buckets) {
        /* Hash the rows on several threads: SHA-256 costs more than writing them. */
        Spans spans;
        if (hw_spans_alloc(&spans, n) == 0) {
            int64_t prev = 0;
            for (Py_ssize_t r = 0; r < n; r++) {
                spans.ptrs[r] = (const uint8_t *)out.p + prev;
                spans.lens[r] = ends[r] - prev;
                prev = ends[r];
            }
            result = hw_buckets_of(&spans, buckets, threads, 0);
            hw_spans_release(&spans);
        }
    } else if (framed) {
        result = PyBytes_FromStringAndSize(out.p ? out.p : "", out.len);
    } else {
        list = PyList_New(n);
        if (!list) goto done;
        int64_t prev = 0;
        for (Py_ssize_t r = 0; r < n; r++) {
            PyObject *b = PyBytes_FromStringAndSize(out.p + prev, (Py_ssize_t)(ends[r] - prev));
            if (!b) goto done;
            PyList_SetItem(list, r, b);
            prev = ends[r];
        }
        result = list;
        list = NULL;
    }
done:
    for (Py_ssize_t j = 0; j < got; j++) {
        Col *c = &cols[j];
        if (c->key.obj) PyBuffer_Release(&c->key);
        if (c->counts.obj) PyBuffer_Release(&c->counts);
        if (c->values.obj) PyBuffer_Release(&c->values);
        if (c->has_offsets) PyBuffer_Release(&c->offsets);
    }
    PyMem_Free(cols);
    PyMem_Free(ends);
    buf_free(&out);
    Py_XDECREF(list);
    return result;
}
