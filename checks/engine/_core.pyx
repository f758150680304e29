# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled search (issue 21): the breadth-first loop over packed states, and at the
end of the file the liveness passes over the built graph (the peel, the backward closure).

It owns what the pure-Python loop spends its time on: the visited set over fixed-width
states (W 64-bit words), the frontier (the state array itself), the parent links, the
edges, and the caches of each thread's steps, of the properties' answers and of the
halted and end tests, each keyed by the state's bits under a mask. Python is called only
on a cache miss (the Product computes the steps, the properties their values, exactly
as in the Python loop) and every 1,024 expansions (bounds and progress). Exceptions
raised in those calls (LayoutFull, Rederive, BoundHit) come out of `search` as they
would out of the Python loop.

The Graph the analysis reads takes the loop's arrays as they are, with no copy: the
parent links, labels, depths and edges are Python `array`s of the Graph's types from the
start, and the states stay 64-bit words, made Python ints only when one is asked for
(`States`).
"""

from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport uint64_t, int64_t
from cpython.list cimport PyList_GET_ITEM
from cpython.object cimport Py_SIZE
from cpython cimport array as carray
import array

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
        _from_int(mask, m, self.w)
        return self.put_words(x, m, value)

    cdef int put_words(self, const uint64_t* x, const uint64_t* m, int64_t value) except -1:
        cdef uint64_t key[MAXW]
        cdef int i
        if not _eq(m, self.mask, self.w):
            memcpy(self.mask, m, self.w * sizeof(uint64_t))
            _table_free(&self.table)
            _table_init(&self.table, 16, self.w)
        for i in range(self.w):
            key[i] = x[i] & self.mask[i]
        _put(&self.table, key, value, self.w)
        return 0


cdef class Buffer:
    """A growable array of int64 or of uint64 words (the step pool Hooks.miss fills)."""
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


# The arrays handed to the Graph: Python arrays grown in place (by half again when full).

cdef inline int _push_i(carray.array a, int v) except -1:
    cdef Py_ssize_t n = Py_SIZE(a)
    carray.resize_smart(a, n + 1)
    a.data.as_ints[n] = v
    return 0


cdef inline int _push_q(carray.array a, long long v) except -1:
    cdef Py_ssize_t n = Py_SIZE(a)
    carray.resize_smart(a, n + 1)
    a.data.as_longlongs[n] = v
    return 0


cdef class Search:
    """One breadth-first search over a PackedSystem's states (see `search` below)."""
    cdef int w
    cdef int64_t n                   # states found
    cdef object hooks
    cdef carray.array states         # 'Q': w words a state, by id
    cdef carray.array parent, label, depth, succ      # 'i', as the Graph keeps them
    cdef carray.array start, ends, loops, spin        # 'q'
    cdef carray.array settle     # in order: (state id, news id), or (id, -1) for a dead end
    cdef int* ids                # the visited set: state ids by hash (-1: free)
    cdef int64_t idcap
    cdef list memos              # every thread's Memo per pc code, flattened
    cdef int64_t* base           # per thread: its first Memo in `memos`
    cdef int64_t* offsets        # per thread: where its pc's bits start
    cdef uint64_t* pcmasks       # per thread: its pc's bits, unshifted
    cdef int threads
    cdef Memo halted, proper
    cdef list verdicts           # per property: its value (0, 1) keyed by what it reads
    cdef bytes always            # per property: 1 for an invariant (news when false)
    cdef int pw                  # words in a set of properties, a bit each
    cdef Memo news               # keyed by every property's reads: the news set's id, or -1
    cdef Memo sets               # a set of properties (pw words) -> its id in Hooks.found
    cdef object on_miss, on_value, on_news, on_halted, on_proper, on_checkpoint
    cdef public int64_t back_edges, limit
    cdef public object bound

    def __cinit__(self, int w, hooks, list plan, list always, int64_t limit):
        self.w = w
        self.n = 0
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
        self.on_miss, self.on_value, self.on_news = hooks.miss, hooks.value, hooks.news
        self.on_halted, self.on_proper = hooks.halted, hooks.proper
        self.on_checkpoint = hooks.checkpoint
        self.states = array.array("Q")
        self.parent, self.label = array.array("i"), array.array("i")
        self.depth, self.succ = array.array("i"), array.array("i")
        self.start, self.ends = array.array("q", [0]), array.array("q")
        self.loops, self.spin = array.array("q"), array.array("q")
        self.settle = array.array("q")
        self.idcap = 1024
        self.ids = <int*>malloc(self.idcap * sizeof(int))
        if not self.ids:
            raise MemoryError()
        memset(self.ids, 0xff, self.idcap * sizeof(int))
        self.halted, self.proper, self.news = Memo(w), Memo(w), Memo(w)
        if len(always) > 64 * MAXW:
            raise ValueError(f"more than {64 * MAXW} properties")
        self.always = bytes(always)
        self.verdicts = [Memo(w) for _ in always]
        self.pw = max(1, (len(always) + 63) // 64)
        self.sets = Memo(self.pw)
        self.back_edges = 0
        self.bound = None

    def __dealloc__(self):
        free(self.ids)
        free(self.base)
        free(self.offsets)
        free(self.pcmasks)

    cdef inline uint64_t* at(self, int64_t sid) noexcept:
        return <uint64_t*>self.states.data.as_ulonglongs + sid * self.w

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
        cdef int64_t sid, slot
        free(self.ids)
        self.idcap *= 2
        self.ids = <int*>malloc(self.idcap * sizeof(int))
        if not self.ids:
            raise MemoryError()
        memset(self.ids, 0xff, self.idcap * sizeof(int))
        for sid in range(self.n - 1):        # the newest is placed by add()
            slot = -self.lookup(self.at(sid)) - 1
            self.ids[slot] = <int>sid
        return 0

    cdef int64_t add(self, const uint64_t* x, int64_t parent, int64_t label) except -2:
        """The id of new state x, or -1 when the bound on states is reached."""
        cdef int64_t sid = self.n
        if sid == self.limit:
            return -1
        if sid == 0x7FFFFFFF:
            raise OverflowError("2^31 states: the Graph's state ids are 32-bit")
        carray.extend_buffer(self.states, <char*>x, self.w)
        self.n += 1
        if self.n * 2 > self.idcap:
            self.rehash()
        self.ids[-self.lookup(x) - 1] = <int>sid
        _push_i(self.parent, <int>parent)
        _push_i(self.label, <int>label)
        _push_i(self.depth, 0 if parent < 0 else self.depth.data.as_ints[parent] + 1)
        self.screen(sid, x)
        return sid

    cdef int screen(self, int64_t sid, const uint64_t* x) except -1:
        """Record the properties whose value is news at new state `sid` (as their set's
        id in Hooks.found): one look-up keyed by what they all read, and on a miss their
        values one by one (`judge`)."""
        cdef uint64_t reads[MAXW]
        cdef int64_t found = self.news.get(x, -2)
        cdef int i, k
        if found == -2:
            found = self.judge(x)
            memset(reads, 0, sizeof(reads))
            for i in range(len(self.verdicts)):
                for k in range(self.w):
                    reads[k] |= (<Memo>PyList_GET_ITEM(self.verdicts, i)).mask[k]
            self.news.put_words(x, reads, found)
        if found >= 0:
            _push_q(self.settle, sid)
            _push_q(self.settle, found)
        return 0

    cdef int64_t judge(self, const uint64_t* x) except -2:
        """The id of the set of properties whose value is news at x (an invariant false,
        a `sometimes` true), or -1 for none. Each value comes from its own cache; on a
        miss, from Hooks.value (the property's cache in Python)."""
        cdef uint64_t news[MAXW]
        cdef uint64_t ones[MAXW]
        cdef int64_t v, i, n = len(self.verdicts), any = 0
        cdef Memo memo
        cdef const unsigned char* always = <const unsigned char*><const char*>self.always
        cdef object state = None
        memset(news, 0, sizeof(news))
        for i in range(n):
            memo = <Memo>PyList_GET_ITEM(self.verdicts, i)
            v = memo.get(x, -1)
            if v < 0:
                state = _to_int(x, self.w) if state is None else state
                value, mask = self.on_value(i, state)
                v = 1 if value else 0
                memo.put(x, mask, v)
            if v != always[i]:
                news[i >> 6] |= (<uint64_t>1) << (i & 63)
                any = 1
        if not any:
            return -1
        v = self.sets.get(news, -1)
        if v < 0:
            v = self.on_news(_to_int(news, self.pw))
            memset(ones, 0xff, sizeof(ones))
            self.sets.put_words(news, ones, v)
        return v

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
        cdef int64_t head = 0, level_end = 0
        for v in initial:
            _from_int(v, x, self.w)
            if self.lookup(x) < 0:
                if self.add(x, -1, -1) < 0:
                    self.bound = "max"
                    return
        while head < self.n:
            if head == level_end:
                level_end = self.n
            if self.expand(head, level_end) < 0:
                self.bound = "max"
                return
            head += 1
            if not head % 1024:
                stop = self.on_checkpoint(head, self.n)
                if stop:
                    self.bound = stop
                    return

    cdef int expand(self, int64_t head, int64_t level_end) except -2:
        """Add the successors of state `head` and its edges (an edge to a state below
        `level_end` goes back up the search, or is a spin), and tell whether it is an
        end, a dead end or a spinner; -1 when the bound on states is reached."""
        cdef uint64_t x[MAXW]
        cdef uint64_t y[MAXW]
        cdef int64_t nid, k, at, t, pool_id, loops = 0, back = 0, nsucc = 0
        cdef int i, w = self.w
        cdef Buffer keep_words = self.hooks.keep_words, put_words = self.hooks.put_words
        cdef Buffer first = self.hooks.first, count = self.hooks.count
        cdef Buffer labels = self.hooks.labels
        memcpy(x, self.at(head), w * sizeof(uint64_t))
        if not self.flag(self.halted, self.on_halted, x):
            for t in range(self.threads):
                pool_id = self.steps_of(t, x)
                at = first.data[pool_id]
                for k in range(at, at + count.data[pool_id]):
                    for i in range(w):
                        y[i] = (x[i] & <uint64_t>keep_words.data[k * w + i]) | \
                            <uint64_t>put_words.data[k * w + i]
                    nid = self.lookup(y)
                    if nid < 0:
                        nid = self.add(y, head, labels.data[k])
                        if nid < 0:
                            return -1
                    elif nid == head:
                        loops += 1
                    elif nid < level_end:
                        back += 1
                    _push_i(self.succ, <int>nid)
                    nsucc += 1
        _push_q(self.start, Py_SIZE(self.succ))
        self.back_edges += back
        self.classify(head, x, nsucc, loops)
        return 0

    cdef int classify(self, int64_t head, const uint64_t* x, int64_t nsucc,
                      int64_t loops) except -1:
        """Record `head` as a proper end, a dead end (told in order) or a state that
        only spins."""
        cdef int64_t proper = self.flag(self.proper, self.on_proper, x)
        if proper:
            _push_q(self.ends, head)
        elif nsucc == 0:
            _push_q(self.settle, head)
            _push_q(self.settle, -1)
        if loops:
            _push_q(self.loops, head)
            if loops == nsucc and not proper:
                _push_q(self.spin, head)
        return 0

    def count(self):
        return self.n

    def hand_over(self):
        """The arrays the Graph takes as they are (trimmed to their size), and the states
        as `States`; the caches, no longer needed, are freed."""
        self.memos = self.verdicts = []
        self.halted = self.proper = self.news = self.sets = None
        self.hooks = self.on_miss = self.on_value = self.on_news = self.on_halted = None
        self.on_proper = self.on_checkpoint = None
        for a in (self.states, self.parent, self.label, self.depth, self.succ, self.start,
                  self.ends, self.loops, self.spin, self.settle):
            carray.resize(a, Py_SIZE(a))
        return States(self), {"parent": self.parent, "label": self.label,
                              "depth": self.depth, "succ": self.succ, "start": self.start,
                              "ends": self.ends, "loops": self.loops, "spin": self.spin,
                              "settle": self.settle}


cdef class States:
    """The states of a finished search by id, as the Graph's `states` list gives them
    (Python ints, each made when asked for), and the id of a state (`find`)."""
    cdef Search search

    def __cinit__(self, Search search):
        self.search = search

    def __len__(self):
        return self.search.n

    def __getitem__(self, Py_ssize_t sid):
        if sid < 0:
            sid += self.search.n
        if not 0 <= sid < self.search.n:
            raise IndexError("state id out of range")
        return _to_int(self.search.at(sid), self.search.w)

    def __iter__(self):
        cdef int64_t sid
        for sid in range(self.search.n):
            yield _to_int(self.search.at(sid), self.search.w)

    def find(self, state):
        """The id of `state` (an int), or -1."""
        cdef uint64_t x[MAXW]
        if state < 0 or state.bit_length() > 64 * self.search.w:
            return -1
        _from_int(state, x, self.search.w)
        return max(-1, self.search.lookup(x))


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
