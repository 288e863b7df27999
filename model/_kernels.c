/* The two inner loops of a similarity search, compiled (see model/kernels.py).
 *
 * add_postings: add posting lists of two-byte rows and one-byte codes, term by term, into
 *     a float32 accumulator: out[row] += code * weight, in the order numpy's path adds them.
 * row_scores: the exact score of each of some document rows kept as counts:
 *     (sum over the row's entries of tf[count] * qidf[term], in float32, in entry order)
 *     divided by the row's norm -- scipy's CSR row product, then one division.
 *
 * Both read arrays that may be mapped from files changed after they were loaded: every row,
 * pointer, term and count that indexes another array is checked here before it is used, and
 * a bad one returns the error IndexError (the caller turns it into IndexChanged). Float
 * arithmetic is float32 with no fused multiply-add (setup flags -ffp-contract=off), so the
 * results are those of numpy's and scipy's float32 loops bit for bit. The GIL is released
 * while they run: shards are searched by threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SEGMENT_BITS 16

static int
get(PyObject *obj, Py_buffer *view, const char *format, Py_ssize_t itemsize, int writable,
    const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT |
                           (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    /* numpy gives "<H" on some builds, "H" on others */
    const char *f = view->format;
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    /* int64 is 'l' where long has eight bytes, 'q' elsewhere */
    const int same = strcmp(f, format) == 0 ||
        (itemsize == 8 && strcmp(format, "q") == 0 && strcmp(f, "l") == 0);
    if (view->itemsize != itemsize || !same) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous array of '%s', not '%s'",
                     name, format, view->format);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Whether *obj* exports items of eight bytes (the wide form of an int32-or-int64 array). */
static int
items_of_eight(PyObject *obj)
{
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_FORMAT | PyBUF_ND) < 0) {
        PyErr_Clear();
        return 0;
    }
    const int eight = view.itemsize == 8;
    PyBuffer_Release(&view);
    return eight;
}

static Py_ssize_t
count(Py_buffer *view)
{
    return view->len / view->itemsize;
}

PyDoc_STRVAR(add_postings_doc,
"add_postings(out, rows, codes, pointers, weights)\n\n"
"For each term t (a row of *pointers*, its segments' list starts and the last list's end)\n"
"and each of its postings i, in order: out[(s << 16) + rows[i]] += float32(codes[i]) * weights[t],\n"
"s being the segment of the list i is in. out: float32 (the shard's rows); rows: uint16;\n"
"codes: uint8; pointers: int64, n_terms x (segments + 1); weights: float32, n_terms.\n"
"IndexError if a pointer or row is out of range (nothing is then trusted of out).");

static PyObject *
add_postings(PyObject *self, PyObject *args)
{
    PyObject *o_out, *o_rows, *o_codes, *o_pointers, *o_weights;
    Py_buffer out, rows, codes, pointers, weights;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOOO", &o_out, &o_rows, &o_codes, &o_pointers, &o_weights))
        return NULL;
    if (get(o_out, &out, "f", 4, 1, "out") < 0)
        return NULL;
    if (get(o_rows, &rows, "H", 2, 0, "rows") < 0)
        goto fail_out;
    if (get(o_codes, &codes, "B", 1, 0, "codes") < 0)
        goto fail_rows;
    if (get(o_pointers, &pointers, "q", 8, 0, "pointers") < 0)
        goto fail_codes;
    if (get(o_weights, &weights, "f", 4, 0, "weights") < 0)
        goto fail_pointers;

    const Py_ssize_t n_terms = count(&weights), n_pointers = count(&pointers);
    const Py_ssize_t size = count(&out), n_postings = count(&rows);
    if (n_postings != count(&codes)) {
        PyErr_SetString(PyExc_ValueError, "rows and codes differ in length");
        goto done;
    }
    if (n_terms == 0 ? n_pointers != 0 : (n_pointers % n_terms != 0 || n_pointers / n_terms < 2)) {
        PyErr_SetString(PyExc_ValueError, "pointers must hold segments + 1 for each term");
        goto done;
    }
    const Py_ssize_t width = n_terms ? n_pointers / n_terms : 2, segments = width - 1;
    float *acc = (float *)out.buf;
    const uint16_t *r = (const uint16_t *)rows.buf;
    const uint8_t *c = (const uint8_t *)codes.buf;
    const int64_t *p = (const int64_t *)pointers.buf;
    const float *w = (const float *)weights.buf;
    int bad = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < n_terms && !bad; t++) {
        const int64_t *at = p + t * width;
        const float weight = w[t];
        for (Py_ssize_t s = 0; s < segments; s++) {
            const int64_t a = at[s], b = at[s + 1];
            if (a < 0 || b < a || b > n_postings) { bad = 1; break; }
            const int64_t first = (int64_t)s << SEGMENT_BITS;
            if (first + 65536 <= size) {  /* every row of the segment is in the shard */
                float *base = acc + first;
                for (int64_t i = a; i < b; i++)
                    base[r[i]] += (float)c[i] * weight;
            } else {
                for (int64_t i = a; i < b; i++) {
                    const int64_t row = first + r[i];
                    if (row >= size) { bad = 1; break; }
                    acc[row] += (float)c[i] * weight;
                }
                if (bad) break;
            }
        }
    }
    Py_END_ALLOW_THREADS

    if (bad)
        PyErr_SetString(PyExc_IndexError, "postings row pointers or rows out of range");
    else
        result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&weights);
fail_pointers:
    PyBuffer_Release(&pointers);
fail_codes:
    PyBuffer_Release(&codes);
fail_rows:
    PyBuffer_Release(&rows);
fail_out:
    PyBuffer_Release(&out);
    return result;
}

PyDoc_STRVAR(row_scores_doc,
"row_scores(out, rows, indptr, terms, counts, tf, qidf, norms)\n\n"
"out[j] = (sum of tf[counts[e]] * qidf[terms[e]] for e in indptr[rows[j]]:indptr[rows[j] + 1],\n"
"in float32, in order) / norms[rows[j]]; 0 for a row without entries. out: float32; rows:\n"
"int64; indptr: int32 or int64; terms: uint16; counts: uint8; tf, qidf, norms: float32. IndexError if a row,\n"
"pointer, term or count is out of range.");

static PyObject *
row_scores(PyObject *self, PyObject *args)
{
    PyObject *o[8];
    Py_buffer out, rows, indptr, terms, counts, tf, qidf, norms;
    if (!PyArg_ParseTuple(args, "OOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &o[7]))
        return NULL;
    Py_buffer *views[8] = {&out, &rows, &indptr, &terms, &counts, &tf, &qidf, &norms};
    /* indptr: int32 in an index of fewer than 2**31 entries, else int64 */
    const int wide = PyObject_CheckBuffer(o[2]) && items_of_eight(o[2]);
    const char *formats[8] = {"f", "q", wide ? "q" : "i", "H", "B", "f", "f", "f"};
    const Py_ssize_t sizes[8] = {4, 8, wide ? 8 : 4, 2, 1, 4, 4, 4};
    static const char *names[8] = {"out", "rows", "indptr", "terms", "counts", "tf", "qidf",
                                   "norms"};
    int got = 0;
    PyObject *result = NULL;
    for (; got < 8; got++)
        if (get(o[got], views[got], formats[got], sizes[got], got == 0, names[got]) < 0)
            goto done;

    const Py_ssize_t n = count(&rows), n_docs = count(&norms), n_entries = count(&terms);
    const Py_ssize_t n_tf = count(&tf), n_terms = count(&qidf);
    if (count(&out) != n || count(&indptr) != n_docs + 1 || count(&counts) != n_entries) {
        PyErr_SetString(PyExc_ValueError, "row_scores: arrays of mismatched lengths");
        goto done;
    }
    float *score = (float *)out.buf;
    const int64_t *row = (const int64_t *)rows.buf;
    const int64_t *ptr64 = (const int64_t *)indptr.buf;
    const int32_t *ptr32 = (const int32_t *)indptr.buf;
    const uint16_t *term = (const uint16_t *)terms.buf;
    const uint8_t *cnt = (const uint8_t *)counts.buf;
    const float *tfs = (const float *)tf.buf, *q = (const float *)qidf.buf;
    const float *norm = (const float *)norms.buf;
    int bad = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < n; j++) {
        const int64_t i = row[j];
        if (i < 0 || i >= n_docs) { bad = 1; break; }
        const int64_t a = wide ? ptr64[i] : ptr32[i], b = wide ? ptr64[i + 1] : ptr32[i + 1];
        if (a < 0 || b < a || b > n_entries) { bad = 1; break; }
        float sum = 0.0f;
        for (int64_t e = a; e < b; e++) {
            if (term[e] >= n_terms || cnt[e] >= n_tf) { bad = 1; break; }
            sum += tfs[cnt[e]] * q[term[e]];
        }
        if (bad) break;
        score[j] = b > a ? sum / norm[i] : 0.0f;
    }
    Py_END_ALLOW_THREADS

    if (bad)
        PyErr_SetString(PyExc_IndexError, "document rows, pointers, terms or counts out of range");
    else
        result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(views[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"add_postings", add_postings, METH_VARARGS, add_postings_doc},
    {"row_scores", row_scores, METH_VARARGS, row_scores_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "model._kernels",
    "The compiled inner loops of a similarity search (see model/kernels.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
