/* tf.Example decoding: serialized records (spans of one buffer, or a sequence of bytes) ->
 * per-feature columnar buffers (counts, values, offsets).
 *
 * The records are cut into contiguous chunks, each decoded on its own thread without the GIL
 * into its own per-feature buffers (Feats); the chunks are then merged in record order, so the
 * result and the first error reported are those of a sequential decode.
 */
#include "_wire.h"

static const char *KIND_NAME[] = {"no value list", "bytes_list", "float_list", "int64_list"};

typedef struct {
    char *name; /* owned copy of the key */
    Py_ssize_t name_len;
    int kind;
    Py_ssize_t kind_record; /* first record (in the chunk) that fixed `kind` */
    int64_t *counts;        /* per record of the chunk; -1 = missing */
    Buf values;             /* float32 / int64 values, or the bytes' data */
    Buf offsets;            /* int64 end offsets of bytes values within `values` */
    Py_ssize_t last_record, mark_values, mark_offsets;
} Feat;

typedef struct {
    Feat *f;
    Py_ssize_t n, cap, num_records;
    int discover;
    Py_ssize_t *hint; /* feature index last seen at each entry position */
    Py_ssize_t hint_cap;
} Feats;

enum { CHUNK_OK = 0, CHUNK_WIRE_ERROR = 1, CHUNK_NO_MEMORY = 2 };

typedef struct {
    const uint8_t *const *ptrs; /* every record of the call */
    const int64_t *lens;
    Py_ssize_t lo, hi; /* this chunk's records */
    Feats fs;
    int failed;
    Py_ssize_t error_record; /* index in the call */
    char message[256];
} Chunk;

static void feats_free(Feats *fs) {
    for (Py_ssize_t i = 0; i < fs->n; i++) {
        free(fs->f[i].name);
        free(fs->f[i].counts);
        buf_free(&fs->f[i].values);
        buf_free(&fs->f[i].offsets);
    }
    free(fs->f);
    free(fs->hint);
    memset(fs, 0, sizeof(*fs));
}

/* Index of a new feature named key, or -2 when out of memory. */
static Py_ssize_t feats_add(Feats *fs, const char *key, Py_ssize_t klen) {
    if (fs->n == fs->cap) {
        Py_ssize_t cap = fs->cap ? fs->cap * 2 : 16;
        Feat *f = realloc(fs->f, sizeof(Feat) * (size_t)cap);
        if (!f) return -2;
        fs->f = f;
        fs->cap = cap;
    }
    Feat *ft = &fs->f[fs->n];
    memset(ft, 0, sizeof(Feat));
    ft->last_record = -1;
    ft->kind_record = -1;
    ft->name_len = klen;
    ft->name = malloc((size_t)klen + 1);
    ft->counts = malloc(sizeof(int64_t) * (size_t)(fs->num_records ? fs->num_records : 1));
    if (!ft->name || !ft->counts) {
        free(ft->name);
        free(ft->counts);
        return -2;
    }
    if (klen) memcpy(ft->name, key, (size_t)klen);
    ft->name[klen] = 0;
    for (Py_ssize_t i = 0; i < fs->num_records; i++) ft->counts[i] = -1;
    return fs->n++;
}

/* Inline compare: keys are short, and a libc memcmp call per feature cost more than the test. */
static inline int key_is(const Feat *ft, const uint8_t *key, Py_ssize_t klen) {
    if (ft->name_len != klen) return 0;
    const char *a = ft->name;
    while (klen >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, key, 8);
        if (x != y) return 0;
        a += 8;
        key += 8;
        klen -= 8;
    }
    while (klen--)
        if ((uint8_t)*a++ != *key++) return 0;
    return 1;
}

/* Index of the feature named key, -1 if not wanted, -2 when out of memory. */
static Py_ssize_t feats_find(Feats *fs, Py_ssize_t position, const uint8_t *key, Py_ssize_t klen) {
    if (position >= fs->hint_cap) {
        Py_ssize_t cap = fs->hint_cap ? fs->hint_cap * 2 : 64;
        while (cap <= position) cap *= 2;
        Py_ssize_t *h = realloc(fs->hint, sizeof(Py_ssize_t) * (size_t)cap);
        if (!h) return -2;
        for (Py_ssize_t i = fs->hint_cap; i < cap; i++) h[i] = -1;
        fs->hint = h;
        fs->hint_cap = cap;
    }
    Py_ssize_t h = fs->hint[position];
    if (h >= 0 && key_is(&fs->f[h], key, klen)) return h;
    for (Py_ssize_t i = 0; i < fs->n; i++) {
        if (key_is(&fs->f[i], key, klen)) {
            fs->hint[position] = i;
            return i;
        }
    }
    if (!fs->discover) return -1;
    Py_ssize_t i = feats_add(fs, (const char *)key, klen);
    if (i >= 0) fs->hint[position] = i;
    return i;
}

/* Append the values of one value list; returns the count, -1 (malformed) or -2 (no memory). */
static Py_ssize_t read_list(Feat *ft, int kind, const uint8_t *p, const uint8_t *end) {
    Field f;
    int r;
    Py_ssize_t count = 0;
    while ((r = next_field(&p, end, &f)) == 1) {
        if ((f.tag >> 3) != 1) continue;
        int wire = (int)(f.tag & 7);
        if (kind == K_FLOAT) {
            if (wire != 2 && wire != 5) return -1;
            Py_ssize_t n = f.end - f.start;
            if (n % 4) return -1;
            if (buf_put(&ft->values, f.start, n) < 0) return -2;
            count += n / 4;
        } else if (kind == K_INT64) {
            if (wire == 0) {
                int64_t v = (int64_t)f.value;
                if (buf_put(&ft->values, &v, 8) < 0) return -2;
                count++;
            } else if (wire == 2) {
                const uint8_t *q = f.start;
                if (buf_reserve(&ft->values, 8 * (f.end - f.start)) < 0) return -2;
                while (q < f.end) {
                    uint64_t v;
                    if (read_varint(&q, f.end, &v) < 0) return -1;
                    memcpy(ft->values.p + ft->values.len, &v, 8);
                    ft->values.len += 8;
                    count++;
                }
            } else {
                return -1;
            }
        } else {
            if (wire != 2) return -1;
            if (buf_put(&ft->values, f.start, f.end - f.start) < 0) return -2;
            int64_t off = (int64_t)ft->values.len;
            if (buf_put(&ft->offsets, &off, 8) < 0) return -2;
            count++;
        }
    }
    return r < 0 ? -1 : count;
}

static void chunk_fail(Chunk *c, Py_ssize_t record, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
    c->failed = CHUNK_WIRE_ERROR;
    c->error_record = record;
}

/* Decode records [lo, hi) into c->fs; stops at the first bad record. Runs without the GIL. */
static void decode_chunk(Chunk *c) {
    Feats *fs = &c->fs;
    for (Py_ssize_t r = c->lo; r < c->hi; r++) {
        Py_ssize_t local = r - c->lo;
        const uint8_t *p = c->ptrs[r], *end = c->ptrs[r] + c->lens[r];
        Field ex, fe, en_f, vf;
        int rc;
        Py_ssize_t position = 0;
        while ((rc = next_field(&p, end, &ex)) == 1) {
            if (ex.tag != LEN1) continue;
            const uint8_t *q = ex.start;
            int rc2;
            while ((rc2 = next_field(&q, ex.end, &fe)) == 1) {
                if (fe.tag != LEN1) continue;
                const uint8_t *key = (const uint8_t *)"", *vstart = NULL, *vend = NULL;
                Py_ssize_t klen = 0;
                const uint8_t *e = fe.start;
                int rc3;
                while ((rc3 = next_field(&e, fe.end, &en_f)) == 1) {
                    if (en_f.tag == LEN1) {
                        key = en_f.start;
                        klen = en_f.end - en_f.start;
                    } else if (en_f.tag == LEN2) {
                        vstart = en_f.start;
                        vend = en_f.end;
                    }
                }
                if (rc3 < 0) return chunk_fail(c, r, "malformed feature map entry");
                Py_ssize_t fi = feats_find(fs, position++, key, klen);
                if (fi == -2) goto no_memory;
                if (fi < 0) continue;
                int kind = K_NONE;
                const uint8_t *lstart = NULL, *lend = NULL;
                if (vstart) {
                    const uint8_t *v = vstart;
                    int rc4;
                    while ((rc4 = next_field(&v, vend, &vf)) == 1) {
                        if (vf.tag == LEN1 || vf.tag == LEN2 || vf.tag == LEN3) {
                            kind = (int)(vf.tag >> 3);
                            lstart = vf.start;
                            lend = vf.end;
                        }
                    }
                    if (rc4 < 0) return chunk_fail(c, r, "malformed Feature message");
                }
                Feat *ft = &fs->f[fi];
                if (ft->last_record == local) { /* repeated key: the last one wins */
                    ft->values.len = ft->mark_values;
                    ft->offsets.len = ft->mark_offsets;
                    ft->counts[local] = -1;
                }
                ft->last_record = local;
                ft->mark_values = ft->values.len;
                ft->mark_offsets = ft->offsets.len;
                if (kind == K_NONE) continue;
                if (ft->kind == K_NONE) {
                    ft->kind = kind;
                    ft->kind_record = local;
                } else if (ft->kind != kind) {
                    return chunk_fail(c, r, "feature %.100s is a %s here but a %s in earlier records",
                                      ft->name, KIND_NAME[kind], KIND_NAME[ft->kind]);
                }
                Py_ssize_t count = read_list(ft, kind, lstart, lend);
                if (count == -2) goto no_memory;
                if (count < 0)
                    return chunk_fail(c, r, "malformed %s of feature %.100s", KIND_NAME[kind], ft->name);
                ft->counts[local] = count;
            }
            if (rc2 < 0) return chunk_fail(c, r, "malformed Features message");
        }
        if (rc < 0) return chunk_fail(c, r, "malformed Example message");
    }
    return;
no_memory:
    c->failed = CHUNK_NO_MEMORY;
}

static void *chunk_thread(void *arg) {
    decode_chunk((Chunk *)arg);
    return NULL;
}

PyObject *hw_WireError;

PyObject *hw_wire_error(const char *message, Py_ssize_t record) {
    PyObject *args = Py_BuildValue("(sn)", message, record);
    if (args) {
        PyErr_SetObject(hw_WireError, args);
        Py_DECREF(args);
    }
    return NULL;
}

enum { MAX_THREADS = 64, MIN_RECORDS_PER_THREAD = 2048 };

/* The global feature list: for each feature, its index in every chunk (-1: absent there). */
typedef struct {
    const Feat *first; /* the feature as first seen, for its name */
    int kind;
    Py_ssize_t *in_chunk;
} Merged;

/* Build the result list from decoded chunks, raising the sequentially-first error if any. */
static PyObject *merge_chunks(Chunk *chunks, int t, Py_ssize_t n) {
    PyObject *result = NULL;
    Py_ssize_t m = 0, cap = 0;
    Merged *g = NULL;
    for (int c = 0; c < t; c++)
        if (chunks[c].failed == CHUNK_NO_MEMORY) return PyErr_NoMemory();
    for (int c = 0; c < t; c++) {
        Feats *fs = &chunks[c].fs;
        for (Py_ssize_t i = 0; i < fs->n; i++) {
            Py_ssize_t k = 0;
            if (i < m && key_is(g[i].first, (const uint8_t *)fs->f[i].name, fs->f[i].name_len)) {
                k = i; /* the common case: the same features in the same order */
            } else {
                for (k = 0; k < m; k++)
                    if (key_is(g[k].first, (const uint8_t *)fs->f[i].name, fs->f[i].name_len)) break;
            }
            if (k == m) {
                if (m == cap) {
                    cap = cap ? cap * 2 : 16;
                    Merged *grown = PyMem_Realloc(g, sizeof(Merged) * (size_t)cap);
                    if (!grown) {
                        PyErr_NoMemory();
                        goto done;
                    }
                    g = grown;
                }
                g[m].first = &fs->f[i];
                g[m].kind = K_NONE;
                g[m].in_chunk = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)t);
                if (!g[m].in_chunk) {
                    PyErr_NoMemory();
                    goto done;
                }
                for (int j = 0; j < t; j++) g[m].in_chunk[j] = -1;
                m++;
            }
            g[k].in_chunk[c] = i;
        }
    }
    /* Kinds, chunk by chunk: the first error in record order wins. */
    for (int c = 0; c < t; c++) {
        Chunk *ch = &chunks[c];
        Py_ssize_t error_record = ch->failed ? ch->error_record : PY_SSIZE_T_MAX;
        char message[256];
        if (ch->failed) memcpy(message, ch->message, sizeof(message));
        for (Py_ssize_t k = 0; k < m; k++) {
            Py_ssize_t i = g[k].in_chunk[c];
            if (i < 0) continue;
            const Feat *ft = &ch->fs.f[i];
            if (ft->kind == K_NONE || g[k].kind == K_NONE || ft->kind == g[k].kind) continue;
            Py_ssize_t record = ch->lo + ft->kind_record;
            if (record < error_record) {
                error_record = record;
                PyOS_snprintf(message, sizeof(message),
                              "feature %.100s is a %s here but a %s in earlier records", ft->name,
                              KIND_NAME[ft->kind], KIND_NAME[g[k].kind]);
            }
        }
        if (error_record != PY_SSIZE_T_MAX) {
            hw_wire_error(message, error_record);
            goto done;
        }
        for (Py_ssize_t k = 0; k < m; k++) {
            Py_ssize_t i = g[k].in_chunk[c];
            if (i >= 0 && g[k].kind == K_NONE) g[k].kind = ch->fs.f[i].kind;
        }
    }
    result = PyList_New(m);
    if (!result) goto done;
    for (Py_ssize_t k = 0; k < m; k++) {
        Py_ssize_t values_len = 0, offsets_len = 0;
        for (int c = 0; c < t; c++) {
            Py_ssize_t i = g[k].in_chunk[c];
            if (i < 0) continue;
            values_len += chunks[c].fs.f[i].values.len;
            offsets_len += chunks[c].fs.f[i].offsets.len;
        }
        PyObject *name = PyBytes_FromStringAndSize(g[k].first->name, g[k].first->name_len);
        PyObject *counts = PyBytes_FromStringAndSize(NULL, 8 * n);
        PyObject *values = PyBytes_FromStringAndSize(NULL, values_len);
        PyObject *offsets = Py_None;
        Py_INCREF(offsets);
        if (g[k].kind == K_BYTES) {
            Py_DECREF(offsets);
            offsets = PyBytes_FromStringAndSize(NULL, offsets_len + 8);
        }
        if (!name || !counts || !values || !offsets) {
            Py_XDECREF(name);
            Py_XDECREF(counts);
            Py_XDECREF(values);
            Py_XDECREF(offsets);
            Py_CLEAR(result);
            goto done;
        }
        int64_t *cnt = (int64_t *)PyBytes_AsString(counts);
        char *val = PyBytes_AsString(values);
        int64_t *off = offsets == Py_None ? NULL : (int64_t *)PyBytes_AsString(offsets);
        if (off) *off++ = 0;
        int64_t base = 0;
        for (int c = 0; c < t; c++) {
            Chunk *ch = &chunks[c];
            Py_ssize_t i = g[k].in_chunk[c], size = ch->hi - ch->lo;
            if (i < 0) {
                for (Py_ssize_t r = 0; r < size; r++) cnt[ch->lo + r] = -1;
                continue;
            }
            const Feat *ft = &ch->fs.f[i];
            memcpy(cnt + ch->lo, ft->counts, 8 * (size_t)size);
            if (ft->values.len) memcpy(val + base, ft->values.p, (size_t)ft->values.len);
            if (off) {
                const int64_t *src = (const int64_t *)ft->offsets.p;
                Py_ssize_t count = ft->offsets.len / 8;
                for (Py_ssize_t j = 0; j < count; j++) *off++ = src[j] + base;
            }
            base += ft->values.len;
        }
        PyObject *item = Py_BuildValue("(NiNNN)", name, g[k].kind, counts, values, offsets);
        if (!item) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SetItem(result, k, item);
    }
done:
    for (Py_ssize_t k = 0; k < m; k++) PyMem_Free(g[k].in_chunk);
    PyMem_Free(g);
    return result;
}

/* Decode the n records ptrs[i][:lens[i]] on up to `threads` threads. */
static PyObject *decode_spans(const uint8_t *const *ptrs, const int64_t *lens, Py_ssize_t n,
                              PyObject *names, Py_ssize_t threads) {
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    Py_ssize_t most = n / MIN_RECORDS_PER_THREAD;
    int t = (int)(threads < most ? threads : most);
    if (t < 1) t = 1;
    Chunk *chunks = PyMem_Calloc((size_t)t, sizeof(Chunk));
    if (!chunks) return PyErr_NoMemory();
    PyObject *result = NULL;
    Py_ssize_t m = 0;
    if (names != Py_None) {
        m = PySequence_Size(names);
        if (m < 0) goto done;
    }
    for (int c = 0; c < t; c++) {
        Chunk *ch = &chunks[c];
        ch->ptrs = ptrs;
        ch->lens = lens;
        ch->lo = n * c / t;
        ch->hi = n * (c + 1) / t;
        ch->fs.num_records = ch->hi - ch->lo;
        ch->fs.discover = names == Py_None;
        for (Py_ssize_t i = 0; i < m; i++) {
            PyObject *item = PySequence_GetItem(names, i);
            if (!item) goto done;
            if (!PyBytes_Check(item)) {
                Py_DECREF(item);
                PyErr_SetString(PyExc_TypeError, "names must be bytes");
                goto done;
            }
            Py_ssize_t k = feats_add(&ch->fs, PyBytes_AsString(item), PyBytes_Size(item));
            Py_DECREF(item);
            if (k < 0) {
                PyErr_NoMemory();
                goto done;
            }
        }
    }
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    Py_BEGIN_ALLOW_THREADS
    for (int c = 1; c < t; c++) started[c] = pthread_create(&tid[c], NULL, chunk_thread, &chunks[c]) == 0;
    decode_chunk(&chunks[0]);
    for (int c = 1; c < t; c++) {
        if (started[c])
            pthread_join(tid[c], NULL);
        else
            decode_chunk(&chunks[c]); /* no thread to spare: decode it here */
    }
    Py_END_ALLOW_THREADS
    result = merge_chunks(chunks, t, n);
done:
    for (int c = 0; c < t; c++) feats_free(&chunks[c].fs);
    PyMem_Free(chunks);
    return result;
}

/* decode(data, starts, ends, names|None, threads): records data[starts[i]:ends[i]]. */
PyObject *hw_decode(PyObject *self, PyObject *args) {
    Py_buffer data, starts, ends;
    PyObject *names, *result = NULL;
    Py_ssize_t threads = 1;
    Spans spans;
    if (!PyArg_ParseTuple(args, "y*y*y*O|n", &data, &starts, &ends, &names, &threads)) return NULL;
    if (hw_spans_of_buffer(&spans, &data, &starts, &ends) == 0) {
        result = decode_spans(spans.ptrs, spans.lens, spans.n, names, threads);
        hw_spans_release(&spans);
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    return result;
}

/* decode_records(records, names|None, threads): a sequence of bytes, one record each. */
PyObject *hw_decode_records(PyObject *self, PyObject *args) {
    PyObject *records, *names, *result;
    Py_ssize_t threads = 1;
    Spans spans;
    if (!PyArg_ParseTuple(args, "OO|n", &records, &names, &threads)) return NULL;
    if (hw_spans_of_records(&spans, records) < 0) return NULL;
    result = decode_spans(spans.ptrs, spans.lens, spans.n, names, threads);
    hw_spans_release(&spans);
    return result;
}
