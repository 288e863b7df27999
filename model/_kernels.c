/* The two inner loops of a similarity search, compiled (see model/kernels.py).
 *
 * add_postings: add posting lists (rows gap-coded, one-byte codes), term by term, into a
 *     float32 accumulator: out[row] += code * weight, in the order numpy's path adds them.
 * row_scores: the exact score of each of some document rows kept as counts (terms
 *     gap-coded): (sum over the row's entries of tf[count] * qidf[term], in float32, in
 *     entry order) divided by the row's norm -- scipy's CSR row product, then one division.
 *
 * Gap coding (model/gaps.py): a number is its gap from the one before it in its list in a
 * byte, or the byte ESCAPE and the number itself in two bytes, the next of the list's
 * share of `wide`.
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

/* None, or NULL with IndexError(message) if the loop found something out of range. */
static PyObject *
checked(int bad, const char *message)
{
    if (bad) {
        PyErr_SetString(PyExc_IndexError, message);
        return NULL;
    }
    return Py_NewRef(Py_None);
}

/* *result*, once the first *got* buffers are released. */
static PyObject *
released(Py_buffer **views, int got, PyObject *result)
{
    for (int i = 0; i < got; i++)
        PyBuffer_Release(views[i]);
    return result;
}

#define ESCAPE 255

/* The next number of a gap-coded list: *value* moved on by gaps[i], or the next escape. */
#define NEXT(value, gaps, i, wide, w, w_end, bad) do { \
        const unsigned g_ = (gaps)[i]; \
        if (g_ == ESCAPE) { \
            if ((w) >= (w_end)) { bad = 1; break; } \
            (value) = (wide)[(w)++]; \
        } else { \
            (value) += g_; \
        } \
    } while (0)

PyDoc_STRVAR(add_postings_doc,
"add_postings(out, gaps, codes, pointers, wide, wide_pointers, weights)\n\n"
"For each term t (a row of *pointers*: its segments' list starts, then the last list's\n"
"end; *wide_pointers* the same for its escapes in *wide*) and each posting i, in order:\n"
"out[(s << 16) + row] += float32(codes[i]) * weights[t], s the segment of the list i is in\n"
"and row decoded from the gaps. out: float32 (the shard's rows); gaps, codes: uint8;\n"
"pointers, wide_pointers: int64, n_terms x (segments + 1); wide: uint16; weights: float32.\n"
"IndexError if a pointer, escape or row is out of range (out is then not to be trusted).");

static PyObject *
add_postings(PyObject *self, PyObject *args)
{
    PyObject *o[7];
    Py_buffer out, gaps, codes, pointers, wide, wide_pointers, weights;
    if (!PyArg_ParseTuple(args, "OOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6]))
        return NULL;
    Py_buffer *views[7] = {&out, &gaps, &codes, &pointers, &wide, &wide_pointers, &weights};
    static const char *formats[7] = {"f", "B", "B", "q", "H", "q", "f"};
    static const Py_ssize_t sizes[7] = {4, 1, 1, 8, 2, 8, 4};
    static const char *names[7] = {"out", "gaps", "codes", "pointers", "wide", "wide_pointers",
                                   "weights"};
    int got = 0;
    PyObject *result = NULL;
    for (; got < 7; got++)
        if (get(o[got], views[got], formats[got], sizes[got], got == 0, names[got]) < 0)
            goto done;

    const Py_ssize_t n_terms = count(&weights), n_pointers = count(&pointers);
    const Py_ssize_t size = count(&out), n_postings = count(&gaps), n_wide = count(&wide);
    if (n_postings != count(&codes) || count(&wide_pointers) != n_pointers) {
        PyErr_SetString(PyExc_ValueError, "gaps and codes, or the two pointer arrays, differ in length");
        goto done;
    }
    if (n_terms == 0 ? n_pointers != 0 : (n_pointers % n_terms != 0 || n_pointers / n_terms < 2)) {
        PyErr_SetString(PyExc_ValueError, "pointers must hold segments + 1 for each term");
        goto done;
    }
    const Py_ssize_t width = n_terms ? n_pointers / n_terms : 2, segments = width - 1;
    float *acc = (float *)out.buf;
    const uint8_t *g = (const uint8_t *)gaps.buf, *c = (const uint8_t *)codes.buf;
    const int64_t *p = (const int64_t *)pointers.buf, *wp = (const int64_t *)wide_pointers.buf;
    const uint16_t *wd = (const uint16_t *)wide.buf;
    const float *weight_of = (const float *)weights.buf;
    int bad = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < n_terms && !bad; t++) {
        const int64_t *at = p + t * width, *wat = wp + t * width;
        const float weight = weight_of[t];
        for (Py_ssize_t s = 0; s < segments && !bad; s++) {
            const int64_t a = at[s], b = at[s + 1];
            int64_t w = wat[s];
            const int64_t w_end = wat[s + 1];
            if (a < 0 || b < a || b > n_postings || w < 0 || w_end < w || w_end > n_wide) {
                bad = 1;
                break;
            }
            const int64_t first = (int64_t)s << SEGMENT_BITS;
            int64_t row = 0;
            for (int64_t i = a; i < b; i++) {
                NEXT(row, g, i, wd, w, w_end, bad);
                if (bad || first + row >= size) { bad = 1; break; }
                acc[first + row] += (float)c[i] * weight;
            }
        }
    }
    Py_END_ALLOW_THREADS

    result = checked(bad, "postings pointers, escapes or rows out of range");
done:
    return released(views, got, result);
}

PyDoc_STRVAR(row_scores_doc,
"row_scores(out, rows, indptr, gaps, counts, wide, wide_indptr, tf, qidf, norms)\n\n"
"out[j] = (sum of tf[counts[e]] * qidf[term] for e in indptr[rows[j]]:indptr[rows[j] + 1],\n"
"in float32, in order) / norms[rows[j]], each term decoded from the row's gaps and its\n"
"escapes wide[wide_indptr[rows[j]]:wide_indptr[rows[j] + 1]]; 0 for a row without entries.\n"
"out: float32; rows: int64; indptr, wide_indptr: int32 or int64 (both the same); gaps,\n"
"counts: uint8; wide: uint16; tf, qidf, norms: float32. IndexError if a row, pointer,\n"
"escape, term or count is out of range.");

static PyObject *
row_scores(PyObject *self, PyObject *args)
{
    PyObject *o[10];
    Py_buffer out, rows, indptr, gaps, counts, wide, wide_indptr, tf, qidf, norms;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &o[7], &o[8], &o[9]))
        return NULL;
    Py_buffer *views[10] = {&out, &rows, &indptr, &gaps, &counts, &wide, &wide_indptr, &tf,
                            &qidf, &norms};
    /* row pointers: int32 in an index of fewer than 2**31 entries, else int64 */
    const int long_pointers = items_of_eight(o[2]);
    const char *pointer = long_pointers ? "q" : "i";
    const Py_ssize_t pointer_size = long_pointers ? 8 : 4;
    const char *formats[10] = {"f", "q", pointer, "B", "B", "H", pointer, "f", "f", "f"};
    const Py_ssize_t sizes[10] = {4, 8, pointer_size, 1, 1, 2, pointer_size, 4, 4, 4};
    static const char *names[10] = {"out", "rows", "indptr", "gaps", "counts", "wide",
                                    "wide_indptr", "tf", "qidf", "norms"};
    int got = 0;
    PyObject *result = NULL;
    for (; got < 10; got++)
        if (get(o[got], views[got], formats[got], sizes[got], got == 0, names[got]) < 0)
            goto done;

    const Py_ssize_t n = count(&rows), n_docs = count(&norms), n_entries = count(&gaps);
    const Py_ssize_t n_tf = count(&tf), n_terms = count(&qidf), n_wide = count(&wide);
    if (count(&out) != n || count(&indptr) != n_docs + 1 || count(&wide_indptr) != n_docs + 1
            || count(&counts) != n_entries) {
        PyErr_SetString(PyExc_ValueError, "row_scores: arrays of mismatched lengths");
        goto done;
    }
    float *score = (float *)out.buf;
    const int64_t *row = (const int64_t *)rows.buf;
    const int64_t *ptr64 = (const int64_t *)indptr.buf, *wptr64 = (const int64_t *)wide_indptr.buf;
    const int32_t *ptr32 = (const int32_t *)indptr.buf, *wptr32 = (const int32_t *)wide_indptr.buf;
    const uint8_t *g = (const uint8_t *)gaps.buf, *cnt = (const uint8_t *)counts.buf;
    const uint16_t *wd = (const uint16_t *)wide.buf;
    const float *tfs = (const float *)tf.buf, *q = (const float *)qidf.buf;
    const float *norm = (const float *)norms.buf;
    int bad = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t j = 0; j < n && !bad; j++) {
        const int64_t i = row[j];
        if (i < 0 || i >= n_docs) { bad = 1; break; }
        const int64_t a = long_pointers ? ptr64[i] : ptr32[i];
        const int64_t b = long_pointers ? ptr64[i + 1] : ptr32[i + 1];
        int64_t w = long_pointers ? wptr64[i] : wptr32[i];
        const int64_t w_end = long_pointers ? wptr64[i + 1] : wptr32[i + 1];
        if (a < 0 || b < a || b > n_entries || w < 0 || w_end < w || w_end > n_wide) {
            bad = 1;
            break;
        }
        int64_t term = 0;
        float sum = 0.0f;
        for (int64_t e = a; e < b; e++) {
            NEXT(term, g, e, wd, w, w_end, bad);
            if (bad || term >= n_terms || cnt[e] >= n_tf) { bad = 1; break; }
            sum += tfs[cnt[e]] * q[term];
        }
        if (!bad)
            score[j] = b > a ? sum / norm[i] : 0.0f;
    }
    Py_END_ALLOW_THREADS

    result = checked(bad, "document rows, pointers, escapes, terms or counts out of range");
done:
    return released(views, got, result);
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
