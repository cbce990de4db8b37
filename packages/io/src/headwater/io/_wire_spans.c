/* The records of one call as (pointer, length) pairs, the form the GIL-free decode and hash loops
 * take: from a sequence of bytes objects (kept alive in a tuple of our own) or from spans
 * [starts[i], ends[i]) of one buffer (checked against it). */
#include "_wire.h"

int hw_spans_alloc(Spans *s, Py_ssize_t n) {
    memset(s, 0, sizeof(*s));
    s->n = n;
    s->ptrs = PyMem_Malloc(sizeof(*s->ptrs) * (size_t)(n ? n : 1));
    s->lens = PyMem_Malloc(sizeof(*s->lens) * (size_t)(n ? n : 1));
    if (!s->ptrs || !s->lens) {
        hw_spans_release(s);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

int hw_spans_of_records(Spans *s, PyObject *records) {
    PyObject *held = PySequence_Tuple(records);
    if (!held) return -1;
    if (hw_spans_alloc(s, PyTuple_Size(held)) < 0) {
        Py_DECREF(held);
        return -1;
    }
    s->held = held;
    for (Py_ssize_t r = 0; r < s->n; r++) {
        PyObject *item = PyTuple_GetItem(held, r);
        if (!PyBytes_Check(item)) {
            PyObject *type_name = PyType_GetName(Py_TYPE(item));
            if (type_name) {
                PyErr_Format(PyExc_TypeError, "record %zd is %U, not bytes", r, type_name);
                Py_DECREF(type_name);
            }
            hw_spans_release(s);
            return -1;
        }
        s->ptrs[r] = (const uint8_t *)PyBytes_AsString(item);
        s->lens[r] = PyBytes_Size(item);
    }
    return 0;
}

int hw_spans_of_buffer(Spans *s, const Py_buffer *data, const Py_buffer *starts,
                       const Py_buffer *ends) {
    Py_ssize_t n = starts->len / 8;
    if (ends->len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "starts and ends differ in length");
        return -1;
    }
    if (hw_spans_alloc(s, n) < 0) return -1;
    const int64_t *st = starts->buf, *en = ends->buf;
    for (Py_ssize_t r = 0; r < n; r++) {
        if (st[r] < 0 || en[r] < st[r] || en[r] > data->len) {
            hw_spans_release(s);
            hw_wire_error("record span out of range", r);
            return -1;
        }
        s->ptrs[r] = (const uint8_t *)data->buf + st[r];
        s->lens[r] = en[r] - st[r];
    }
    return 0;
}

void hw_spans_release(Spans *s) {
    PyMem_Free(s->ptrs);
    PyMem_Free(s->lens);
    Py_XDECREF(s->held);
    memset(s, 0, sizeof(*s));
}
