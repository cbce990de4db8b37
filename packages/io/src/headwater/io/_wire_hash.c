/* SHA-256 (FIPS 180-4) and TFX's hash-split buckets: the digest of a serialized example, read as
 * a big-endian integer, modulo the number of buckets; for TFRecords, of the record as protobuf
 * re-serializes it (canonical_example). Portable C, or the x86 SHA extensions when present. */
#include "_wire.h"

static const uint32_t SHA_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(uint32_t h[8], const uint8_t *block) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + SHA_K[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_SHA_NI 1

/* The same compression with the x86 SHA extensions (about 5x faster), used when the CPU has them.
 * The state is kept as the instructions want it: (A, B, E, F) and (C, D, G, H). */
__attribute__((target("sha,sse4.1"))) static void sha_blocks_ni(uint32_t h[8], const uint8_t *p,
                                                                 size_t blocks) {
    const __m128i order = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* C D A B */
    __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* E F G H */
    __m128i abef = _mm_alignr_epi8(abcd, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, abcd, 0xF0);
    for (; blocks; blocks--, p += 64) {
        __m128i abef_in = abef, cdgh_in = cdgh, w[4];
        for (int k = 0; k < 16; k++) {
            __m128i x;
            if (k < 4) {
                x = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * k)), order);
            } else {
                /* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at a time. */
                x = _mm_sha256msg1_epu32(w[k & 3], w[(k + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(k + 3) & 3], w[(k + 2) & 3], 4));
                x = _mm_sha256msg2_epu32(x, w[(k + 3) & 3]);
            }
            w[k & 3] = x;
            __m128i m = _mm_add_epi32(x, _mm_loadu_si128((const __m128i *)&SHA_K[4 * k]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(m, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
}
#endif

static int use_sha_ni = 0;

/* Use the SHA extensions when the CPU has them (HEADWATER_PORTABLE_C=1 forces portable C). */
void hw_hash_init(void) {
#ifdef HAVE_SHA_NI
    __builtin_cpu_init();
    use_sha_ni = __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") &&
                 getenv("HEADWATER_PORTABLE_C") == NULL;
#endif
}

static void sha_blocks(uint32_t h[8], const uint8_t *p, size_t blocks) {
#ifdef HAVE_SHA_NI
    if (use_sha_ni) {
        sha_blocks_ni(h, p, blocks);
        return;
    }
#endif
    for (size_t i = 0; i < blocks; i++) sha_block(h, p + 64 * i);
}

static void sha256(const uint8_t *p, size_t n, uint8_t digest[32]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t full = n / 64;
    sha_blocks(h, p, full);
    uint8_t tail[128] = {0};
    size_t rest = n - 64 * full;
    memcpy(tail, p + 64 * full, rest);
    tail[rest] = 0x80;
    size_t blocks = rest + 9 <= 64 ? 1 : 2;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++) tail[64 * blocks - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha_blocks(h, tail, blocks);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)h[i];
    }
}

/* The digest of p[:n] as a big-endian integer, modulo total (total < 2**55: no overflow). */
static int64_t sha256_bucket(const uint8_t *p, size_t n, uint64_t total) {
    uint8_t digest[32];
    sha256(p, n, digest);
    uint64_t r = 0;
    for (int i = 0; i < 32; i++) r = (r * 256 + digest[i]) % total;
    return (int64_t)r;
}

#define MAX_HASH_THREADS 16

typedef struct {
    const uint8_t *key, *value; /* a feature map entry's key and its Feature message */
    Py_ssize_t key_len, value_len, order;
} Entry;

/* Map keys in the order protobuf's Python runtime (upb) writes them deterministically: bytewise,
 * except that a key comes before its own prefixes ("ab" before "a", "" last). */
static int entry_cmp(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    Py_ssize_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, (size_t)n);
    if (c) return c;
    if (x->key_len != y->key_len) return x->key_len > y->key_len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order; /* keeps the parse order of equal keys */
}

static inline void put_len_field(Buf *b, uint8_t tag, Py_ssize_t len) {
    b->p[b->len++] = (char)tag;
    b->len = put_varint(b->p + b->len, (uint64_t)len) - b->p;
}

/* The deterministic serialization of the tf.Example in p[:n], as protobuf writes it after
 * parsing: feature map entries sorted by key (entry_cmp), a repeated key kept once (its last
 * value), each entry as key then value. Feature messages are kept as they are (TensorFlow writes them
 * canonically). 0: done, -1: not a tf.Example (the raw bytes are used), -2: out of memory. */
static int canonical_example(const uint8_t *p, Py_ssize_t n, Buf *out, Entry **entries,
                             Py_ssize_t *cap) {
    const uint8_t *end = p + n;
    Field ex, fe, kv;
    int rc, has_features = 0;
    Py_ssize_t m = 0;
    out->len = 0;
    while ((rc = next_field(&p, end, &ex)) == 1) {
        if (ex.tag != LEN1) return -1; /* other Example fields: keep the raw bytes */
        has_features = 1;
        const uint8_t *q = ex.start;
        while ((rc = next_field(&q, ex.end, &fe)) == 1) {
            if (fe.tag != LEN1) return -1;
            Entry e = {(const uint8_t *)"", (const uint8_t *)"", 0, 0, m};
            const uint8_t *r = fe.start;
            while ((rc = next_field(&r, fe.end, &kv)) == 1) {
                if (kv.tag == LEN1) {
                    e.key = kv.start;
                    e.key_len = kv.end - kv.start;
                } else if (kv.tag == LEN2) {
                    e.value = kv.start;
                    e.value_len = kv.end - kv.start;
                } else {
                    return -1;
                }
            }
            if (rc < 0) return -1;
            if (m == *cap) {
                Py_ssize_t grown = *cap ? *cap * 2 : 64;
                Entry *more = realloc(*entries, sizeof(Entry) * (size_t)grown);
                if (!more) return -2;
                *entries = more;
                *cap = grown;
            }
            (*entries)[m++] = e;
        }
        if (rc < 0) return -1;
    }
    if (rc < 0) return -1;
    if (!has_features) return 0; /* an empty Example serializes to no bytes */
    Entry *es = *entries;
    qsort(es, (size_t)m, sizeof(Entry), entry_cmp);
    Py_ssize_t kept = 0, body = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        int last = i + 1 == m || es[i + 1].key_len != es[i].key_len ||
                   memcmp(es[i + 1].key, es[i].key, (size_t)es[i].key_len) != 0;
        if (!last) continue; /* a later entry with the same key wins, as in a parsed map */
        es[kept++] = es[i];
    }
    for (Py_ssize_t i = 0; i < kept; i++) {
        Py_ssize_t inner = 1 + varint_size((uint64_t)es[i].key_len) + es[i].key_len + 1 +
                           varint_size((uint64_t)es[i].value_len) + es[i].value_len;
        body += 1 + varint_size((uint64_t)inner) + inner;
    }
    if (buf_reserve(out, body + 16) < 0) return -2;
    put_len_field(out, 0x0A, body);
    for (Py_ssize_t i = 0; i < kept; i++) {
        Py_ssize_t inner = 1 + varint_size((uint64_t)es[i].key_len) + es[i].key_len + 1 +
                           varint_size((uint64_t)es[i].value_len) + es[i].value_len;
        put_len_field(out, 0x0A, inner);
        put_len_field(out, 0x0A, es[i].key_len);
        memcpy(out->p + out->len, es[i].key, (size_t)es[i].key_len);
        out->len += es[i].key_len;
        put_len_field(out, 0x12, es[i].value_len);
        memcpy(out->p + out->len, es[i].value, (size_t)es[i].value_len);
        out->len += es[i].value_len;
    }
    return 0;
}

typedef struct {
    const uint8_t *const *ptrs;
    const int64_t *lens;
    int64_t *out;
    Py_ssize_t lo, hi;
    uint64_t buckets;
    int canonical; /* hash each record's deterministic re-serialization */
    int no_memory;
} HashJob;

static void *hash_job(void *arg) {
    HashJob *j = arg;
    Buf scratch = {0};
    Entry *entries = NULL;
    Py_ssize_t cap = 0;
    for (Py_ssize_t r = j->lo; r < j->hi; r++) {
        const uint8_t *p = j->ptrs[r];
        size_t n = (size_t)j->lens[r];
        if (j->canonical) {
            int rc = canonical_example(p, (Py_ssize_t)n, &scratch, &entries, &cap);
            if (rc == -2) {
                j->no_memory = 1;
                break;
            }
            if (rc == 0) {
                p = (const uint8_t *)(scratch.p ? scratch.p : "");
                n = (size_t)scratch.len;
            }
        }
        j->out[r] = sha256_bucket(p, n, j->buckets);
    }
    buf_free(&scratch);
    free(entries);
    return NULL;
}

/* out[r] = bucket of ptrs[r][:lens[r]] (or of its canonical tf.Example), on up to `threads`
 * threads; call without the GIL. -1 when out of memory. */
int hw_hash_spans(const uint8_t *const *ptrs, const int64_t *lens, Py_ssize_t n,
                      uint64_t buckets, int64_t *out, int threads, int canonical) {
    if (threads > MAX_HASH_THREADS) threads = MAX_HASH_THREADS;
    if (threads > n / 1024) threads = (int)(n / 1024);
    if (threads < 1) threads = 1;
    HashJob jobs[MAX_HASH_THREADS];
    pthread_t tid[MAX_HASH_THREADS];
    int started[MAX_HASH_THREADS] = {0};
    for (int t = 0; t < threads; t++) {
        jobs[t] = (HashJob){ptrs, lens, out, n * t / threads, n * (t + 1) / threads, buckets,
                            canonical, 0};
        if (t) started[t] = pthread_create(&tid[t], NULL, hash_job, &jobs[t]) == 0;
    }
    hash_job(&jobs[0]);
    int no_memory = jobs[0].no_memory;
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            hash_job(&jobs[t]);
        no_memory |= jobs[t].no_memory;
    }
    return no_memory ? -1 : 0;
}

PyObject *hw_py_sha_ni(PyObject *self, PyObject *args) { return PyBool_FromLong(use_sha_ni); }

PyObject *hw_py_sha256(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    uint8_t digest[32];
    Py_BEGIN_ALLOW_THREADS
    sha256(data.buf, (size_t)data.len, digest);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyBytes_FromStringAndSize((const char *)digest, 32);
}

/* The buckets of `spans` as one int64 bytes, hashed without the GIL. */
PyObject *hw_buckets_of(const Spans *spans, unsigned long long total, int threads, int canonical) {
    if (total < 1 || total >= MAX_BUCKETS) {
        PyErr_SetString(PyExc_ValueError, "total must be in [1, 2**55)");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, 8 * spans->n);
    if (!out) return NULL;
    int64_t *buckets = (int64_t *)PyBytes_AsString(out);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = hw_hash_spans(spans->ptrs, spans->lens, spans->n, (uint64_t)total, buckets, threads,
                       canonical);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    return out;
}

/* record_buckets(records, total, threads=1): int64 bucket of each bytes record. */
PyObject *hw_record_buckets(PyObject *self, PyObject *args) {
    PyObject *records, *out;
    unsigned long long total;
    int threads = 1;
    Spans spans;
    if (!PyArg_ParseTuple(args, "OK|i", &records, &total, &threads)) return NULL;
    if (hw_spans_of_records(&spans, records) < 0) return NULL;
    out = hw_buckets_of(&spans, total, threads, 0);
    hw_spans_release(&spans);
    return out;
}

/* span_buckets(data, starts, ends, total, threads=1, canonical=0): bucket of each record
 * data[starts[i]:ends[i]], or with canonical, of its deterministic tf.Example serialization. */
PyObject *hw_span_buckets(PyObject *self, PyObject *args) {
    Py_buffer data, starts, ends;
    unsigned long long total;
    int threads = 1, canonical = 0;
    PyObject *out = NULL;
    Spans spans;
    if (!PyArg_ParseTuple(args, "y*y*y*K|ip", &data, &starts, &ends, &total, &threads, &canonical))
        return NULL;
    if (hw_spans_of_buffer(&spans, &data, &starts, &ends) == 0) {
        out = hw_buckets_of(&spans, total, threads, canonical);
        hw_spans_release(&spans);
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    return out;
}
