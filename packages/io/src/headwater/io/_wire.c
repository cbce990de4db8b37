/* tf.Example and TFRecord wire codec for headwater.io, called once per batch.
 *
 * decode(), decode_records(): serialized tf.Examples (spans of one buffer, or a sequence of bytes)
 *           -> per-feature columnar buffers (counts, values, offsets), on several threads.
 * encode(): per-feature columnar buffers -> serialized tf.Examples, as a list of bytes or as
 *           TFRecord-framed bytes (length, masked CRC32C, data, masked CRC32C).
 * unframe(): TFRecord framing -> record spans, every CRC checked.
 * The Python side (example_wire.py) turns these buffers into numpy / Arrow arrays. No Python
 * object is created per value; all loops over records and values are here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "headwater.io._wire assumes a little-endian machine"
#endif

/* ------------------------------------------------------------------ growable buffer
 * Plain malloc (not PyMem): buffers grow inside the GIL-free decode threads. */

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->p, (size_t)cap);
    if (!p) return -1; /* no Python error set: callers may run without the GIL */
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *src, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    /* One value (4 or 8 bytes) is the common case: a move, not a memcpy call. */
    if (n == 8)
        memcpy(b->p + b->len, src, 8);
    else if (n == 4)
        memcpy(b->p + b->len, src, 4);
    else if (n)
        memcpy(b->p + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}

static void buf_free(Buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ CRC32C */

static uint32_t crc_table[8][256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

static uint32_t crc32c(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
            crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
            crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
            crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][(w >> 56) & 0xFF];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
    return c ^ 0xFFFFFFFFu;
}

static inline uint32_t masked_crc(const uint8_t *p, size_t n) {
    uint32_t c = crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

/* ------------------------------------------------------------------ varints and fields */

static inline int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *pp;
    uint64_t r = 0;
    for (int shift = 0; shift < 70 && p < end; shift += 7) {
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7F) << shift;
        if (b < 0x80) {
            *out = r;
            *pp = p;
            return 0;
        }
    }
    return -1;
}

static inline int varint_size(uint64_t v) {
    int n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline char *put_varint(char *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (char)((v & 0x7F) | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

/* A field's tag is kept whole (number << 3 | wire type) and compared as one value: splitting it
 * into two 32-bit stores made every later comparison stall on store forwarding. */
#define TAG(number, wire) (((uint64_t)(number) << 3) | (wire))
#define LEN1 TAG(1, 2) /* field 1, length-delimited */
#define LEN2 TAG(2, 2)
#define LEN3 TAG(3, 2)

typedef struct {
    uint64_t tag;
    const uint8_t *start, *end; /* payload (wire 2), or the value's bytes */
    uint64_t value;             /* wire 0 */
} Field;

/* 1: a field was read; 0: end of message; -1: malformed. */
static inline int next_field(const uint8_t **pp, const uint8_t *end, Field *f) {
    if (*pp >= end) return 0;
    uint64_t tag, len;
    if (read_varint(pp, end, &tag) < 0) return -1;
    f->tag = tag;
    f->start = *pp;
    switch (tag & 7) {
        case 0:
            if (read_varint(pp, end, &f->value) < 0) return -1;
            break;
        case 1:
            if (end - *pp < 8) return -1;
            *pp += 8;
            break;
        case 2:
            if (read_varint(pp, end, &len) < 0) return -1;
            if (len > (uint64_t)(end - *pp)) return -1;
            f->start = *pp;
            *pp += len;
            break;
        case 5:
            if (end - *pp < 4) return -1;
            *pp += 4;
            break;
        default:
            return -1;
    }
    f->end = *pp;
    return 1;
}

/* ------------------------------------------------------------------ SHA-256 (FIPS 180-4)
 * For TFX's hash splits: the bucket of a serialized example is its SHA-256 digest, read as a
 * big-endian integer, modulo the number of buckets. */

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

#define MAX_BUCKETS ((uint64_t)1 << 55)
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
static int hash_spans(const uint8_t *const *ptrs, const int64_t *lens, Py_ssize_t n,
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

static PyObject *py_sha_ni(PyObject *self, PyObject *args) { return PyBool_FromLong(use_sha_ni); }

static PyObject *py_sha256(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    uint8_t digest[32];
    Py_BEGIN_ALLOW_THREADS
    sha256(data.buf, (size_t)data.len, digest);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyBytes_FromStringAndSize((const char *)digest, 32);
}

/* record_buckets(records, total, threads=1): int64 bucket of each bytes record. */
static PyObject *record_buckets(PyObject *self, PyObject *args) {
    PyObject *records;
    unsigned long long total;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OK|i", &records, &total, &threads)) return NULL;
    if (total < 1 || total >= MAX_BUCKETS) {
        PyErr_SetString(PyExc_ValueError, "total must be in [1, 2**55)");
        return NULL;
    }
    /* A tuple of our own keeps every record alive while the GIL is released. */
    PyObject *held = PySequence_Tuple(records);
    if (!held) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(held);
    PyObject *out = PyBytes_FromStringAndSize(NULL, 8 * n);
    const uint8_t **ptrs = PyMem_Malloc(sizeof(*ptrs) * (size_t)(n ? n : 1));
    int64_t *lens = PyMem_Malloc(sizeof(*lens) * (size_t)(n ? n : 1));
    if (!out || !ptrs || !lens) {
        if (out) PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *item = PyTuple_GET_ITEM(held, r);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "record %zd is %.100s, not bytes", r, Py_TYPE(item)->tp_name);
            goto fail;
        }
        ptrs[r] = (const uint8_t *)PyBytes_AS_STRING(item);
        lens[r] = PyBytes_GET_SIZE(item);
    }
    int64_t *buckets = (int64_t *)PyBytes_AS_STRING(out);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = hash_spans(ptrs, lens, n, (uint64_t)total, buckets, threads, 0);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_NoMemory();
        goto fail;
    }
    PyMem_Free(ptrs);
    PyMem_Free(lens);
    Py_DECREF(held);
    return out;
fail:
    PyMem_Free(ptrs);
    PyMem_Free(lens);
    Py_XDECREF(out);
    Py_DECREF(held);
    return NULL;
}

/* span_buckets(data, starts, ends, total, threads=1, canonical=0): bucket of each record
 * data[starts[i]:ends[i]], or with canonical, of its deterministic tf.Example serialization. */
static PyObject *span_buckets(PyObject *self, PyObject *args) {
    Py_buffer data, starts, ends;
    unsigned long long total;
    int threads = 1, canonical = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*K|ip", &data, &starts, &ends, &total, &threads, &canonical))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = starts.len / 8;
    const int64_t *st = starts.buf, *en = ends.buf;
    const uint8_t **ptrs = PyMem_Malloc(sizeof(*ptrs) * (size_t)(n ? n : 1));
    int64_t *lens = PyMem_Malloc(sizeof(*lens) * (size_t)(n ? n : 1));
    if (!ptrs || !lens) {
        PyErr_NoMemory();
        goto done;
    }
    if (total < 1 || total >= MAX_BUCKETS || ends.len / 8 < n) {
        PyErr_SetString(PyExc_ValueError, "total must be in [1, 2**55), one end per start");
        goto done;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        if (st[r] < 0 || en[r] < st[r] || en[r] > data.len) {
            PyErr_Format(PyExc_ValueError, "record span %zd out of range", r);
            goto done;
        }
        ptrs[r] = (const uint8_t *)data.buf + st[r];
        lens[r] = en[r] - st[r];
    }
    out = PyBytes_FromStringAndSize(NULL, 8 * n);
    if (!out) goto done;
    int64_t *buckets = (int64_t *)PyBytes_AS_STRING(out);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = hash_spans(ptrs, lens, n, (uint64_t)total, buckets, threads, canonical);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        Py_CLEAR(out);
        PyErr_NoMemory();
    }
done:
    PyMem_Free(ptrs);
    PyMem_Free(lens);
    PyBuffer_Release(&data);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    return out;
}

/* ------------------------------------------------------------------ decode
 *
 * The records are cut into contiguous chunks, each decoded on its own thread without the GIL
 * into its own per-feature buffers (Feats); the chunks are then merged in record order, so the
 * result and the first error reported are those of a sequential decode.
 */

enum { K_NONE = 0, K_BYTES = 1, K_FLOAT = 2, K_INT64 = 3 };

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

static PyObject *WireError;

static PyObject *wire_error(const char *message, Py_ssize_t record) {
    PyObject *args = Py_BuildValue("(sn)", message, record);
    if (args) {
        PyErr_SetObject(WireError, args);
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
            wire_error(message, error_record);
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
        int64_t *cnt = (int64_t *)PyBytes_AS_STRING(counts);
        char *val = PyBytes_AS_STRING(values);
        int64_t *off = offsets == Py_None ? NULL : (int64_t *)PyBytes_AS_STRING(offsets);
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
        PyList_SET_ITEM(result, k, item);
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
            Py_ssize_t k = feats_add(&ch->fs, PyBytes_AS_STRING(item), PyBytes_GET_SIZE(item));
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
static PyObject *decode(PyObject *self, PyObject *args) {
    Py_buffer data, starts, ends;
    PyObject *names;
    Py_ssize_t threads = 1;
    if (!PyArg_ParseTuple(args, "y*y*y*O|n", &data, &starts, &ends, &names, &threads)) return NULL;
    PyObject *result = NULL;
    const uint8_t *base = data.buf;
    const int64_t *st = starts.buf, *en = ends.buf;
    Py_ssize_t n = starts.len / 8;
    const uint8_t **ptrs = PyMem_Malloc(sizeof(*ptrs) * (size_t)(n ? n : 1));
    int64_t *lens = PyMem_Malloc(sizeof(*lens) * (size_t)(n ? n : 1));
    if (!ptrs || !lens) {
        PyErr_NoMemory();
        goto done;
    }
    if (ends.len / 8 < n) {
        PyErr_SetString(PyExc_ValueError, "fewer ends than starts");
        goto done;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        if (st[r] < 0 || en[r] < st[r] || en[r] > data.len) {
            wire_error("record span out of range", r);
            goto done;
        }
        ptrs[r] = base + st[r];
        lens[r] = en[r] - st[r];
    }
    result = decode_spans(ptrs, lens, n, names, threads);
done:
    PyMem_Free(ptrs);
    PyMem_Free(lens);
    PyBuffer_Release(&data);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    return result;
}

/* decode_records(records, names|None, threads): a sequence of bytes, one record each. */
static PyObject *decode_records(PyObject *self, PyObject *args) {
    PyObject *records, *names;
    Py_ssize_t threads = 1;
    if (!PyArg_ParseTuple(args, "OO|n", &records, &names, &threads)) return NULL;
    /* A tuple of our own keeps every record alive while the GIL is released. */
    PyObject *held = PySequence_Tuple(records);
    if (!held) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(held);
    const uint8_t **ptrs = PyMem_Malloc(sizeof(*ptrs) * (size_t)(n ? n : 1));
    int64_t *lens = PyMem_Malloc(sizeof(*lens) * (size_t)(n ? n : 1));
    if (!ptrs || !lens) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *item = PyTuple_GET_ITEM(held, r);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "record %zd is %.100s, not bytes", r, Py_TYPE(item)->tp_name);
            goto done;
        }
        ptrs[r] = (const uint8_t *)PyBytes_AS_STRING(item);
        lens[r] = PyBytes_GET_SIZE(item);
    }
    result = decode_spans(ptrs, lens, n, names, threads);
done:
    PyMem_Free(ptrs);
    PyMem_Free(lens);
    Py_DECREF(held);
    return result;
}

/* ------------------------------------------------------------------ encode */

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
static PyObject *encode(PyObject *self, PyObject *args) {
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
            uint32_t crc = masked_crc((const uint8_t *)start, 8);
            memcpy(start + 8, &crc, 4);
            crc = masked_crc((const uint8_t *)start + 12, (size_t)size);
            memcpy(w, &crc, 4);
            w += 4;
        }
        out.len = w - out.p;
        if (!framed) ends[r] = (int64_t)out.len;
    }
    if (buckets) {
        /* Hash the rows on several threads: SHA-256 costs more than writing them. */
        result = PyBytes_FromStringAndSize(NULL, 8 * n);
        const uint8_t **ptrs = PyMem_Malloc(sizeof(*ptrs) * (size_t)(n ? n : 1));
        int64_t *lens = PyMem_Malloc(sizeof(*lens) * (size_t)(n ? n : 1));
        if (!result || !ptrs || !lens) {
            if (result) PyErr_NoMemory();
            Py_CLEAR(result);
        } else {
            int64_t prev = 0;
            for (Py_ssize_t r = 0; r < n; r++) {
                ptrs[r] = (const uint8_t *)out.p + prev;
                lens[r] = ends[r] - prev;
                prev = ends[r];
            }
            int64_t *dest = (int64_t *)PyBytes_AS_STRING(result);
            int rc;
            Py_BEGIN_ALLOW_THREADS
            rc = hash_spans(ptrs, lens, n, (uint64_t)buckets, dest, threads, 0);
            Py_END_ALLOW_THREADS
            if (rc < 0) {
                Py_CLEAR(result);
                PyErr_NoMemory();
            }
        }
        PyMem_Free(ptrs);
        PyMem_Free(lens);
    } else if (framed) {
        result = PyBytes_FromStringAndSize(out.p ? out.p : "", out.len);
    } else {
        list = PyList_New(n);
        if (!list) goto done;
        int64_t prev = 0;
        for (Py_ssize_t r = 0; r < n; r++) {
            PyObject *b = PyBytes_FromStringAndSize(out.p + prev, (Py_ssize_t)(ends[r] - prev));
            if (!b) goto done;
            PyList_SET_ITEM(list, r, b);
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
        if (masked_crc(p + pos, 8) != crc) {
            bad = "bad record length CRC (corrupt length field)";
            break;
        }
        if (size - pos < 16 || len > (uint64_t)(size - pos - 16)) break; /* needs more data */
        int64_t a = pos + 12, b = pos + 12 + (Py_ssize_t)len;
        memcpy(&crc, p + b, 4);
        if (masked_crc(p + a, (size_t)len) != crc) {
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
    result = Py_BuildValue("(y#y#nN)", starts.p ? starts.p : "", starts.len, ends.p ? ends.p : "",
                           ends.len, pos, error);
done:
    buf_free(&starts);
    buf_free(&ends);
    PyBuffer_Release(&data);
    return result;
}

static PyObject *py_masked_crc(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    uint32_t c = masked_crc(data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(c);
}

static PyMethodDef METHODS[] = {
    {"decode", decode, METH_VARARGS,
     "decode(data, starts, ends, names|None, threads=1) -> [(name, kind, counts, values, offsets|None)]"},
    {"decode_records", decode_records, METH_VARARGS,
     "decode_records(records, names|None, threads=1) -> [(name, kind, counts, values, offsets|None)]"},
    {"encode", encode, METH_VARARGS,
     "encode(n, [(key, kind, counts, values, offsets|None)], mode, buckets=0, threads=1) -> list[bytes] | bytes"},
    {"unframe", unframe, METH_VARARGS,
     "unframe(data) -> (starts, ends, consumed, None | (message, record, offset))"},
    {"masked_crc32c", py_masked_crc, METH_VARARGS, "TensorFlow's masked CRC32C of data."},
    {"sha256", py_sha256, METH_VARARGS, "SHA-256 digest of data (checked against hashlib)."},
    {"span_buckets", span_buckets, METH_VARARGS,
     "span_buckets(data, starts, ends, total, threads=1, canonical=False) -> int64 bytes"},
    {"sha_ni", py_sha_ni, METH_NOARGS, "Whether SHA-256 runs on the CPU's SHA extensions."},
    {"record_buckets", record_buckets, METH_VARARGS,
     "record_buckets(records, total, threads=1) -> int64 bytes: SHA-256 of each record mod total"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_wire",
                                    "tf.Example / TFRecord wire codec (see example_wire.py).", -1,
                                    METHODS};

PyMODINIT_FUNC PyInit__wire(void) {
    crc_init();
#ifdef HAVE_SHA_NI
    __builtin_cpu_init();
    use_sha_ni = __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") &&
                 getenv("HEADWATER_NO_SHA_NI") == NULL;
#endif
    PyObject *m = PyModule_Create(&MODULE);
    if (!m) return NULL;
    WireError = PyErr_NewException("headwater.io._wire.WireError", PyExc_ValueError, NULL);
    if (!WireError || PyModule_AddObject(m, "WireError", WireError) < 0) {
        Py_XDECREF(WireError);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(WireError);
    return m;
}
