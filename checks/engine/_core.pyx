# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled search (issue 21): the breadth-first loop over packed states, and at the
end of the file the liveness passes over the built graph (the peel, the backward closure).

It owns what the pure-Python loop spends its time on: the visited set over fixed-width
states (W 64-bit words), the frontier (the state array itself), the parent links, the
edges, and the caches of each thread's steps, of the properties' answers and of the
halted and end tests, each keyed by the state's bits under a mask. Python is called only
on a cache miss (the Product computes the steps, the properties their values, exactly
as in the Python loop), every 1,024 expansions (bounds and progress), and once at the
end to build the Graph the analysis reads. Exceptions raised in those calls (LayoutFull,
Rederive, BoundHit) come out of `search` as they would out of the Python loop.
"""

from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport uint64_t, int64_t
from cpython.list cimport PyList_GET_ITEM
from cpython.bytes cimport PyBytes_FromStringAndSize

DEF MAXW = 16


cdef inline uint64_t _mix(const uint64_t* x, int w) noexcept nogil:
    cdef uint64_t h = 0x9E3779B97F4A7C15ULL
    cdef int i
    for i in range(w):
        h ^= x[i] + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2)
        h *= 0xBF58476D1CE4E5B9ULL
        h ^= h >> 31
    return h


cdef void _from_int(object v, uint64_t* out, int w):
    cdef int i
    cdef object m = (1 << 64) - 1
    for i in range(w):
        out[i] = <uint64_t>(v & m)
        v = v >> 64


cdef object _to_int(const uint64_t* x, int w):
    cdef object v = 0
    cdef int i
    for i in range(w - 1, -1, -1):
        v = (v << 64) | x[i]
    return v


cdef struct Table:
    # open addressing: keys (cap * w words), values (cap), used flags (cap)
    uint64_t* keys
    int64_t* values
    char* used
    int64_t cap
    int64_t size


cdef int _table_init(Table* t, int64_t cap, int w) except -1:
    t.cap = cap
    t.size = 0
    t.keys = <uint64_t*>malloc(cap * w * sizeof(uint64_t))
    t.values = <int64_t*>malloc(cap * sizeof(int64_t))
    t.used = <char*>calloc(cap, 1)
    if not t.keys or not t.values or not t.used:
        raise MemoryError()
    return 0


cdef void _table_free(Table* t) noexcept:
    free(t.keys)
    free(t.values)
    free(t.used)
    t.keys = NULL
    t.values = NULL
    t.used = NULL


cdef inline int _eq(const uint64_t* a, const uint64_t* b, int w) noexcept nogil:
    cdef int i
    for i in range(w):
        if a[i] != b[i]:
            return 0
    return 1


cdef inline int64_t _find(Table* t, const uint64_t* key, int w) noexcept nogil:
    """The slot holding `key`, or -(free slot) - 1."""
    cdef uint64_t mask = <uint64_t>(t.cap - 1)
    cdef uint64_t i = _mix(key, w) & mask
    while t.used[i]:
        if _eq(t.keys + i * w, key, w):
            return <int64_t>i
        i = (i + 1) & mask
    return -<int64_t>i - 1


cdef int _grow(Table* t, int w) except -1:
    cdef Table old = t[0]
    cdef int64_t i, slot
    _table_init(t, old.cap * 2, w)
    for i in range(old.cap):
        if old.used[i]:
            slot = -_find(t, old.keys + i * w, w) - 1
            memcpy(t.keys + slot * w, old.keys + i * w, w * sizeof(uint64_t))
            t.values[slot] = old.values[i]
            t.used[slot] = 1
            t.size += 1
    _table_free(&old)
    return 0


cdef int _put(Table* t, const uint64_t* key, int64_t value, int w) except -1:
    cdef int64_t slot
    if (t.size + 1) * 2 > t.cap:
        _grow(t, w)
    slot = _find(t, key, w)
    if slot < 0:
        slot = -slot - 1
        memcpy(t.keys + slot * w, key, w * sizeof(uint64_t))
        t.used[slot] = 1
        t.size += 1
    t.values[slot] = value
    return 0


cdef class Memo:
    """A cache keyed by a state's bits under a mask that only widens (a wider mask
    starts the table over, as the Python caches do)."""
    cdef Table table
    cdef uint64_t mask[MAXW]
    cdef int w

    def __cinit__(self, int w):
        self.w = w
        memset(self.mask, 0, sizeof(self.mask))
        _table_init(&self.table, 16, w)

    def __dealloc__(self):
        _table_free(&self.table)

    cdef inline int64_t get(self, const uint64_t* x, int64_t missing) noexcept:
        cdef uint64_t key[MAXW]
        cdef int i
        for i in range(self.w):
            key[i] = x[i] & self.mask[i]
        cdef int64_t slot = _find(&self.table, key, self.w)
        return self.table.values[slot] if slot >= 0 else missing

    cdef int put(self, const uint64_t* x, object mask, int64_t value) except -1:
        cdef uint64_t m[MAXW]
        cdef uint64_t key[MAXW]
        cdef int i
        _from_int(mask, m, self.w)
        if not _eq(m, self.mask, self.w):
            memcpy(self.mask, m, sizeof(m))
            _table_free(&self.table)
            _table_init(&self.table, 16, self.w)
        for i in range(self.w):
            key[i] = x[i] & self.mask[i]
        _put(&self.table, key, value, self.w)
        return 0


cdef class Buffer:
    """A growable array of int64 or of uint64 words."""
    cdef int64_t* data
    cdef int64_t size, cap

    def __cinit__(self):
        self.cap = 1024
        self.size = 0
        self.data = <int64_t*>malloc(self.cap * sizeof(int64_t))
        if not self.data:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, int64_t more) except -1:
        cdef int64_t cap = self.cap
        while self.size + more > cap:
            cap *= 2
        if cap != self.cap:
            self.data = <int64_t*>realloc(self.data, cap * sizeof(int64_t))
            if not self.data:
                raise MemoryError()
            self.cap = cap
        return 0

    cdef inline int append(self, int64_t v) except -1:
        if self.size == self.cap:
            self.reserve(1)
        self.data[self.size] = v
        self.size += 1
        return 0

    def tobytes(self):
        """The entries as native int64 bytes (array("q").frombytes takes them)."""
        return PyBytes_FromStringAndSize(<char*>self.data, self.size * sizeof(int64_t))


cdef class Search:
    """One breadth-first search over a PackedSystem's states (see `search` below)."""
    cdef int w
    cdef object hooks
    cdef Buffer states, parent, label, depth, succ, start, ends, loops, spin
    cdef Buffer settle           # in order: (state id, news id), or (id, -1) for a dead end
    cdef int64_t* ids            # the visited set: state ids by hash (-1: free)
    cdef int64_t idcap
    cdef list memos              # every thread's Memo per pc code, flattened
    cdef int64_t* base           # per thread: its first Memo in `memos`
    cdef int64_t* offsets        # per thread: where its pc's bits start
    cdef uint64_t* pcmasks       # per thread: its pc's bits, unshifted
    cdef int threads
    cdef Memo halted, proper, news
    cdef object on_miss, on_news, on_halted, on_proper, on_checkpoint
    cdef public int64_t back_edges, limit
    cdef public object bound

    def __cinit__(self, int w, hooks, list plan, int64_t limit):
        self.w = w
        self.hooks = hooks
        self.limit = limit
        self.threads = len(plan)          # per thread: (offset, pc mask)
        self.base = <int64_t*>malloc((self.threads + 1) * sizeof(int64_t))
        self.offsets = <int64_t*>malloc((self.threads + 1) * sizeof(int64_t))
        self.pcmasks = <uint64_t*>malloc((self.threads + 1) * sizeof(uint64_t))
        self.memos = []
        for t, (offset, mask) in enumerate(plan):
            self.base[t], self.offsets[t], self.pcmasks[t] = len(self.memos), offset, mask
            self.memos += [Memo(w) for _ in range(mask + 1)]
        self.on_miss, self.on_news = hooks.miss, hooks.news
        self.on_halted, self.on_proper = hooks.halted, hooks.proper
        self.on_checkpoint = hooks.checkpoint
        self.states, self.parent, self.label = Buffer(), Buffer(), Buffer()
        self.depth, self.succ, self.start = Buffer(), Buffer(), Buffer()
        self.ends = Buffer()
        self.loops, self.spin, self.settle = Buffer(), Buffer(), Buffer()
        self.start.append(0)
        self.idcap = 1024
        self.ids = <int64_t*>malloc(self.idcap * sizeof(int64_t))
        if not self.ids:
            raise MemoryError()
        memset(self.ids, 0xff, self.idcap * sizeof(int64_t))
        self.halted, self.proper, self.news = Memo(w), Memo(w), Memo(w)
        self.back_edges = 0
        self.bound = None

    def __dealloc__(self):
        free(self.ids)
        free(self.base)
        free(self.offsets)
        free(self.pcmasks)

    cdef uint64_t* at(self, int64_t sid) noexcept:
        return <uint64_t*>self.states.data + sid * self.w

    cdef inline int64_t lookup(self, const uint64_t* x) noexcept:
        """The id of state x, or -(its free slot) - 1; the set holds ids only, and
        compares against the state array (no second copy of the states)."""
        cdef uint64_t mask = <uint64_t>(self.idcap - 1)
        cdef uint64_t i = _mix(x, self.w) & mask
        cdef int64_t sid
        while True:
            sid = self.ids[i]
            if sid < 0:
                return -<int64_t>i - 1
            if _eq(self.at(sid), x, self.w):
                return sid
            i = (i + 1) & mask

    cdef int rehash(self) except -1:
        cdef int64_t n = self.states.size // self.w, sid, slot
        free(self.ids)
        self.idcap *= 2
        self.ids = <int64_t*>malloc(self.idcap * sizeof(int64_t))
        if not self.ids:
            raise MemoryError()
        memset(self.ids, 0xff, self.idcap * sizeof(int64_t))
        for sid in range(n - 1):        # the newest is placed by add()
            slot = -self.lookup(self.at(sid)) - 1
            self.ids[slot] = sid
        return 0

    cdef int64_t add(self, const uint64_t* x, int64_t parent, int64_t label) except -2:
        """The id of new state x, or -1 when the bound on states is reached."""
        cdef int64_t sid = self.states.size // self.w
        cdef int i
        if sid == self.limit:
            return -1
        self.states.reserve(self.w)
        for i in range(self.w):
            self.states.data[self.states.size + i] = <int64_t>x[i]
        self.states.size += self.w
        if (sid + 1) * 2 > self.idcap:
            self.rehash()
        self.ids[-self.lookup(x) - 1] = sid
        self.parent.append(parent)
        self.label.append(label)
        self.depth.append(0 if parent < 0 else self.depth.data[parent] + 1)
        cdef int64_t found = self.news.get(x, -2)
        if found == -2:
            value, mask = self.on_news(_to_int(x, self.w))
            found = -1 if value is None else value
            self.news.put(x, mask, found)
        if found >= 0:
            self.settle.append(sid)
            self.settle.append(found)
        return sid

    cdef int64_t steps_of(self, int t, const uint64_t* x) except -2:
        """The id of thread t's steps from x in the pool Hooks.miss fills."""
        cdef int64_t offset = self.offsets[t]
        cdef int64_t word = offset >> 6, shift = offset & 63
        cdef uint64_t pc = x[word] >> shift
        if shift and word + 1 < self.w:
            pc |= x[word + 1] << (64 - shift)
        pc &= self.pcmasks[t]
        cdef Memo memo = <Memo>PyList_GET_ITEM(self.memos, self.base[t] + <int64_t>pc)
        cdef int64_t sid = memo.get(x, -1)
        if sid < 0:
            sid, mask = self.on_miss(t, pc, _to_int(x, self.w))
            memo.put(x, mask, sid)
        return sid

    cdef int64_t flag(self, Memo memo, object function, const uint64_t* x) except -2:
        cdef int64_t v = memo.get(x, -1)
        if v < 0:
            value, mask = function(_to_int(x, self.w))
            v = 1 if value else 0
            memo.put(x, mask, v)
        return v

    def run(self, list initial):
        cdef uint64_t x[MAXW]
        cdef uint64_t y[MAXW]
        cdef int64_t head = 0, level_end = 0, sid, nid, slot, k, n, at, lid
        cdef int64_t loops, back, nsucc, t, pool_id
        cdef int i, threads = self.threads
        cdef Buffer keep_words = self.hooks.keep_words, put_words = self.hooks.put_words
        cdef Buffer first = self.hooks.first, count = self.hooks.count
        cdef Buffer labels = self.hooks.labels
        for v in initial:
            _from_int(v, x, self.w)
            if self.lookup(x) < 0:
                if self.add(x, -1, -1) < 0:
                    self.bound = "max"
                    return
        while head < self.states.size // self.w:
            if head == level_end:
                level_end = self.states.size // self.w
            memcpy(x, self.at(head), self.w * sizeof(uint64_t))
            nsucc = 0
            loops = back = 0
            if not self.flag(self.halted, self.on_halted, x):
                for t in range(threads):
                    pool_id = self.steps_of(t, x)
                    at = first.data[pool_id]
                    n = count.data[pool_id]
                    for k in range(at, at + n):
                        for i in range(self.w):
                            y[i] = (x[i] & <uint64_t>keep_words.data[k * self.w + i]) | \
                                <uint64_t>put_words.data[k * self.w + i]
                        nid = self.lookup(y)
                        if nid < 0:
                            nid = self.add(y, head, labels.data[k])
                            if nid < 0:
                                self.bound = "max"
                                return
                        else:
                            if nid < level_end:
                                if nid == head:
                                    loops += 1
                                else:
                                    back += 1
                        self.succ.append(nid)
                        nsucc += 1
            self.start.append(self.succ.size)
            self.back_edges += back
            proper = self.flag(self.proper, self.on_proper, x)
            if proper:
                self.ends.append(head)
            elif nsucc == 0:
                self.settle.append(head)         # a dead end, told in order
                self.settle.append(-1)
            if loops:
                self.loops.append(head)
                if loops == nsucc and not proper:
                    self.spin.append(head)
            head += 1
            if not head % 1024:
                stop = self.on_checkpoint(head, self.states.size // self.w)
                if stop:
                    self.bound = stop
                    return

    def count(self):
        return self.states.size // self.w

    def state_ints(self):
        return [_to_int(self.at(i), self.w) for i in range(self.states.size // self.w)]

    def arrays(self):
        return {name: buf.tobytes() for name, buf in (
            ("parent", self.parent), ("label", self.label), ("depth", self.depth),
            ("succ", self.succ), ("start", self.start), ("ends", self.ends),
            ("loops", self.loops), ("spin", self.spin),
            ("settle", self.settle))}


def new_buffer():
    return Buffer()


def buffer_extend(Buffer b, values):
    for v in values:
        b.append(v)


# -- liveness over the built graph (checks/engine/liveness.py's Python versions) ---------

def peel(succ_a, start_a, skip_a, Py_ssize_t n):
    """liveness.peel on the graph's arrays (succ: array('i'), start: array('q'), skip:
    bytearray of n): `skip` plus every state Kahn's algorithm peels off. The set peeled
    does not depend on the order, so it is the Python version's."""
    cdef const int[:] succ = succ_a
    cdef const long long[:] start = start_a
    cdef const unsigned char[:] skip = skip_a
    cdef Py_ssize_t m = start.shape[0] - 1, e = succ.shape[0], u, k, w, top = 0
    peeled = bytearray(skip_a)
    cdef unsigned char[:] out = peeled
    cdef int* indeg = <int*>calloc(n + 1, sizeof(int))
    cdef int* todo = <int*>malloc((n + 1) * sizeof(int))
    if indeg == NULL or todo == NULL:
        free(indeg); free(todo)
        raise MemoryError()
    try:
        for k in range(e):
            indeg[succ[k]] += 1
        for u in range(m):
            if skip[u]:
                for k in range(start[u], start[u + 1]):
                    indeg[succ[k]] -= 1
        for u in range(n):
            if not skip[u] and not indeg[u]:
                todo[top] = <int>u
                top += 1
        while top:
            top -= 1
            u = todo[top]
            out[u] = 1
            if u < m:
                for k in range(start[u], start[u + 1]):
                    w = succ[k]
                    indeg[w] -= 1
                    if not indeg[w] and not skip[w]:
                        todo[top] = <int>w
                        top += 1
    finally:
        free(indeg); free(todo)
    return peeled


def backward_closure(succ_a, start_a, targets, Py_ssize_t n):
    """liveness.backward_closure on the graph's arrays: a bytearray marking every state
    from which one of `targets` is reachable."""
    cdef const int[:] succ = succ_a
    cdef const long long[:] start = start_a
    cdef Py_ssize_t m = start.shape[0] - 1, e = succ.shape[0], u, v, k, top = 0
    mark = bytearray(n)
    cdef unsigned char[:] out = mark
    cdef long long* first = <long long*>calloc(n + 1, sizeof(long long))
    cdef long long* fill = <long long*>malloc((n + 1) * sizeof(long long))
    cdef int* rev = <int*>malloc((e + 1) * sizeof(int))
    cdef int* todo = <int*>malloc((n + 1) * sizeof(int))
    if first == NULL or fill == NULL or rev == NULL or todo == NULL:
        free(first); free(fill); free(rev); free(todo)
        raise MemoryError()
    try:
        for k in range(e):
            first[succ[k] + 1] += 1
        for u in range(n):
            first[u + 1] += first[u]
        memcpy(fill, first, (n + 1) * sizeof(long long))
        for u in range(m):
            for k in range(start[u], start[u + 1]):
                v = succ[k]
                rev[fill[v]] = <int>u
                fill[v] += 1
        for v in targets:
            if not out[v]:
                out[v] = 1
                todo[top] = <int>v
                top += 1
        while top:
            top -= 1
            v = todo[top]
            for k in range(first[v], first[v + 1]):
                u = rev[k]
                if not out[u]:
                    out[u] = 1
                    todo[top] = <int>u
                    top += 1
    finally:
        free(first); free(fill); free(rev); free(todo)
    return mark
