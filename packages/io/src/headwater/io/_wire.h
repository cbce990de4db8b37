/* Shared by the C files of headwater.io._wire: growable buffers, protobuf varints and fields,
 * and the functions one file provides to another (all prefixed hw_, none exported: the extension
 * is compiled with hidden visibility, only PyInit__wire is public).
 */
#ifndef HEADWATER_WIRE_H
#define HEADWATER_WIRE_H

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

static inline int buf_reserve(Buf *b, Py_ssize_t extra) {
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

static inline void buf_free(Buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
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

enum { K_NONE = 0, K_BYTES = 1, K_FLOAT = 2, K_INT64 = 3 }; /* Feature's value list kinds */

#define MAX_BUCKETS ((uint64_t)1 << 55)

/* _wire_spans.c: the records of a call as pointers and lengths (read without the GIL). */
typedef struct {
    const uint8_t **ptrs;
    int64_t *lens;
    Py_ssize_t n;
    PyObject *held; /* a tuple keeping the records alive, or NULL */
} Spans;
int hw_spans_alloc(Spans *s, Py_ssize_t n);
int hw_spans_of_records(Spans *s, PyObject *records);
int hw_spans_of_buffer(Spans *s, const Py_buffer *data, const Py_buffer *starts,
                       const Py_buffer *ends);
void hw_spans_release(Spans *s);

/* _wire_crc.c: TensorFlow's masked CRC32C. */
void hw_crc_init(void);
int hw_crc_instruction(void);
uint32_t hw_masked_crc(const uint8_t *p, size_t n);

/* _wire_hash.c: SHA-256 buckets (TFX's hash splits). */
void hw_hash_init(void);
int hw_hash_spans(const uint8_t *const *ptrs, const int64_t *lens, Py_ssize_t n, uint64_t buckets,
                  int64_t *out, int threads, int canonical);
PyObject *hw_buckets_of(const Spans *spans, unsigned long long total, int threads, int canonical);
PyObject *hw_py_sha_ni(PyObject *self, PyObject *args);
PyObject *hw_py_sha256(PyObject *self, PyObject *args);
PyObject *hw_record_buckets(PyObject *self, PyObject *args);
PyObject *hw_span_buckets(PyObject *self, PyObject *args);

/* _wire_decode.c: tf.Examples -> columns. */
extern PyObject *hw_WireError;
PyObject *hw_wire_error(const char *message, Py_ssize_t record);
PyObject *hw_decode(PyObject *self, PyObject *args);
PyObject *hw_decode_records(PyObject *self, PyObject *args);

/* _wire_encode.c: columns -> tf.Examples. */
PyObject *hw_encode(PyObject *self, PyObject *args);

#endif
