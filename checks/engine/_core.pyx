# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled search (issue 21): the breadth-first loop over packed states, and at the
end of the file the liveness passes over the built graph (the peel, the backward closure).

It owns what the pure-Python loop spends its time on: the visited set over fixed-width
states (W 64-bit words), the frontier (the state array itself; in fingerprint mode,
`Fingerprints`, a file), the parent links, the
edges, and the caches of each thread's steps, of the properties' answers and of the
halted and end tests, each keyed by the state's bits under a mask. Python is called only
on a cache miss (the Product computes the steps, the properties their values, exactly
as in the Python loop) and every 1,024 expansions (bounds and progress). Exceptions
raised in those calls (LayoutFull, Rederive, BoundHit) come out of `search` as they
would out of the Python loop.

The Graph the analysis reads takes the loop's arrays as they are, with no copy: the
parent links, labels, depths and edges are Python `array`s of the Graph's types from the
start, and the states stay 64-bit words, made Python ints only when one is asked for
(`States`). In fingerprint mode nothing of a state is kept but its hash, and the
parents and hashes go to files (`Fingerprints`).
"""

from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport uint64_t, int64_t, int32_t
from libc.stdio cimport (FILE, fdopen, fclose, fflush, fread, fwrite, rewind, setvbuf, _IOFBF,
                         ferror)
from libc.errno cimport errno
from posix.unistd cimport close as close_fd
from posix.mman cimport (mmap, munmap, madvise, MAP_FAILED, MAP_PRIVATE, MAP_ANONYMOUS,
                         PROT_READ, PROT_WRITE, MADV_HUGEPAGE)
from cpython.object cimport Py_SIZE
from cpython cimport array as carray
import array
import os

DEF MAXW = 16


cdef extern from *:
    """
    typedef unsigned __int128 core_u128;
    """
    ctypedef unsigned long long core_u128
    void __builtin_prefetch(const void*) noexcept nogil


cdef uint64_t SALT[MAXW]
cdef uint64_t SCALE[MAXW]


cdef uint64_t _splitmix(uint64_t* z) noexcept:
    z[0] += 0x9E3779B97F4A7C15ULL
    cdef uint64_t r = z[0]
    r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9ULL
    r = (r ^ (r >> 27)) * 0x94D049BB133111EBULL
    return r ^ (r >> 31)


cdef void _salt() noexcept:
    cdef uint64_t z = 0x243F6A8885A308D3ULL
    cdef int i
    for i in range(MAXW):
        SALT[i] = _splitmix(&z)
        SCALE[i] = _splitmix(&z) | 1


_salt()


cdef inline uint64_t _word(uint64_t v, int i) noexcept nogil:
    """Word i's share of a state's hash: v folded through its own 64x64->128-bit multiply."""
    cdef core_u128 p = <core_u128>(v ^ SALT[i]) * SCALE[i]
    return <uint64_t>p ^ <uint64_t>(p >> 64)


cdef inline uint64_t _sum(const uint64_t* x, int w) noexcept nogil:
    """The shares of a state's words summed: the words are mixed independently, so the
    multiplies run side by side, and a step that changes two words changes two shares
    (`Search.successors` updates the sum instead of hashing the successor again)."""
    cdef uint64_t h = <uint64_t>w
    cdef int i
    for i in range(w):
        h += _word(x[i], i)
    return h


cdef inline uint64_t _final(uint64_t h) noexcept nogil:
    """The sum mixed once more, so that its top bits (the visited set's tag) depend on
    every word's share."""
    h ^= h >> 32
    h *= 0x9E3779B97F4A7C15ULL
    return h ^ (h >> 29)


cdef inline uint64_t _mix(const uint64_t* x, int w) noexcept nogil:
    """A state's hash."""
    return _final(_sum(x, w))


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


DEF BIG = 1 << 22       # bytes: a table this large is mapped, with huge pages asked for


cdef void* _zeroed(size_t size) noexcept:
    """`size` bytes of zeros, or NULL. A large table is mapped, with transparent huge
    pages asked for (these machines give them only on madvise): a probe lands anywhere
    in the table, and with 4 KB pages nearly every one missed the TLB as well."""
    cdef void* p
    if size < BIG:
        return calloc(size, 1)
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if p == MAP_FAILED:
        return NULL
    madvise(p, size, MADV_HUGEPAGE)
    return p


cdef void _unzeroed(void* p, size_t size) noexcept:
    """Give back what `_zeroed(size)` gave."""
    if p == NULL:
        return
    if size < BIG:
        free(p)
    else:
        munmap(p, size)


cdef struct Table:
    # open addressing, one entry of `stride` words a slot: the value + 2 (0 when the slot
    # is free), the key (kw words), and where kept the state the value was computed at
    # (the rest)
    uint64_t* slots
    int64_t cap
    int64_t size
    int kw, stride


cdef int _table_init(Table* t, int64_t cap, int kw, int stride) except -1:
    t.cap, t.size, t.kw, t.stride = cap, 0, kw, stride
    t.slots = <uint64_t*>_zeroed(cap * stride * sizeof(uint64_t))
    if not t.slots:
        raise MemoryError()
    return 0


cdef void _table_free(Table* t) noexcept:
    _unzeroed(t.slots, t.cap * t.stride * sizeof(uint64_t))
    t.slots = NULL


cdef inline int _eq(const uint64_t* a, const uint64_t* b, int w) noexcept nogil:
    cdef int i
    for i in range(w):
        if a[i] != b[i]:
            return 0
    return 1


cdef inline int64_t _find(const Table* t, const uint64_t* key) noexcept nogil:
    """The slot holding `key`, or -(free slot) - 1."""
    cdef uint64_t mask = <uint64_t>(t.cap - 1)
    cdef uint64_t i = _mix(key, t.kw) & mask
    cdef uint64_t* e = t.slots + i * t.stride
    while e[0]:
        if _eq(e + 1, key, t.kw):
            return <int64_t>i
        i = (i + 1) & mask
        e = t.slots + i * t.stride
    return -<int64_t>i - 1


cdef inline int64_t _value(const Table* t, int64_t slot) noexcept nogil:
    return <int64_t>t.slots[slot * t.stride] - 2


cdef int _grow(Table* t) except -1:
    """Twice the slots (t as it was if memory runs out)."""
    cdef Table new
    cdef int64_t i, slot
    cdef uint64_t* e
    _table_init(&new, t.cap * 2, t.kw, t.stride)
    for i in range(t.cap):
        e = t.slots + i * t.stride
        if e[0]:
            slot = -_find(&new, e + 1) - 1
            memcpy(new.slots + slot * new.stride, e, new.stride * sizeof(uint64_t))
            new.size += 1
    _table_free(t)
    t[0] = new
    return 0


cdef int _put(Table* t, const uint64_t* key, int64_t value, const uint64_t* origin) except -1:
    """Key `key` (kw words) to `value` (-1 or more), and keep `origin` (the rest of the
    stride) beside it."""
    cdef int64_t slot
    cdef uint64_t* e
    if (t.size + 1) * 2 > t.cap:
        _grow(t)
    slot = _find(t, key)
    e = t.slots + slot * t.stride if slot >= 0 else t.slots + (-slot - 1) * t.stride
    if slot < 0:
        memcpy(e + 1, key, t.kw * sizeof(uint64_t))
        t.size += 1
    memcpy(e + 1 + t.kw, origin, (t.stride - 1 - t.kw) * sizeof(uint64_t))
    e[0] = <uint64_t>(value + 2)
    return 0


cdef struct Memo:
    # A cache keyed by a state's bits under a mask that only widens. The key holds only
    # the words the mask touches (`nz`), so a cache that reads two words of a nine-word
    # state hashes and compares two. A plain struct, kept in C arrays: the loop reads one
    # per thread a state, with no Python object in the way.
    #
    # A wider mask starts the table over, as the Python caches do, unless the Memo keeps
    # each value's state (`origins`, for the threads' steps): then each entry is keyed
    # again under the wider mask by the state it was computed at. That is sound: what
    # was computed read only bits under the old mask, which the new one holds, so it
    # holds for every state that agrees with that one under the new mask.
    Table table
    uint64_t mask[MAXW]
    int nz[MAXW]                 # the words the mask touches, in order
    int kw                       # how many (at least 1: an empty mask keys on word 0)
    int w
    bint origins


cdef int _memo_init(Memo* m, int w, bint origins) except -1:
    m.w, m.origins = w, origins
    memset(m.mask, 0, sizeof(m.mask))
    m.kw = 1
    m.nz[0] = 0
    return _table_init(&m.table, 16, 1, 2 + (w if origins else 0))


cdef Memo* _memos(int64_t n, int w, bint origins=False) except NULL:
    """n new Memos in one block (free with _memos_free)."""
    cdef Memo* out = <Memo*>calloc(max(n, 1), sizeof(Memo))
    cdef int64_t i
    if not out:
        raise MemoryError()
    for i in range(n):
        _memo_init(&out[i], w, origins)
    return out


cdef list _memos_held(Memo* ms, int64_t n):
    """(entries, bytes) of n Memos' tables."""
    cdef int64_t i, entries = 0, size = 0
    for i in range(n if ms else 0):
        entries += ms[i].table.size
        size += ms[i].table.cap * ms[i].table.stride * sizeof(uint64_t)
    return [entries, size]


cdef void _memos_free(Memo* ms, int64_t n) noexcept:
    cdef int64_t i
    if ms:
        for i in range(n):
            _table_free(&ms[i].table)
        free(ms)


cdef inline void _memo_key(const Memo* m, const uint64_t* x, uint64_t* out) noexcept nogil:
    cdef int j
    for j in range(m.kw):
        out[j] = x[m.nz[j]] & m.mask[m.nz[j]]


cdef inline int64_t _memo_get(Memo* m, const uint64_t* x, int64_t missing) noexcept nogil:
    cdef uint64_t key[MAXW]
    _memo_key(m, x, key)
    cdef int64_t slot = _find(&m.table, key)
    return _value(&m.table, slot) if slot >= 0 else missing


cdef int _memo_put(Memo* m, const uint64_t* x, object mask, int64_t value) except -1:
    cdef uint64_t words[MAXW]
    _from_int(mask, words, m.w)
    return _memo_put_words(m, x, words, value)


cdef int _memo_put_words(Memo* m, const uint64_t* x, const uint64_t* mask,
                         int64_t value) except -1:
    """Key x's bits under `mask` to `value`; the Memo's mask takes in `mask` first (it
    only widens: a re-keyed entry stays right only under a mask holding its old one)."""
    cdef uint64_t key[MAXW]
    cdef uint64_t wider[MAXW]
    cdef int i
    for i in range(m.w):
        wider[i] = m.mask[i] | mask[i]
    if not _eq(wider, m.mask, m.w):
        _memo_widen(m, wider)
    _memo_key(m, x, key)
    return _put(&m.table, key, value, x)


cdef int _memo_widen(Memo* m, const uint64_t* mask) except -1:
    """Key the Memo under `mask` (wider): its entries again by their states, or none
    (the Memo as it was if memory runs out)."""
    cdef Memo wide = m[0]
    cdef uint64_t key[MAXW]
    cdef uint64_t* e
    cdef int64_t i
    memcpy(wide.mask, mask, m.w * sizeof(uint64_t))
    wide.kw = 0
    for i in range(m.w):
        if mask[i]:
            wide.nz[wide.kw] = <int>i
            wide.kw += 1
    if not wide.kw:
        wide.nz[0], wide.kw = 0, 1
    _table_init(&wide.table, 16, wide.kw, 1 + wide.kw + (m.w if m.origins else 0))
    try:
        for i in range(m.table.cap if m.origins else 0):
            e = m.table.slots + i * m.table.stride
            if e[0]:
                _memo_key(&wide, e + 1 + m.table.kw, key)
                _put(&wide.table, key, <int64_t>e[0] - 2, e + 1 + m.table.kw)
    except MemoryError:
        _table_free(&wide.table)
        raise
    _table_free(&m.table)
    m[0] = wide
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
        cdef void* p
        while self.size + more > cap:
            cap *= 2
        if cap != self.cap:
            p = realloc(self.data, cap * sizeof(int64_t))
            if not p:
                raise MemoryError()
            self.data, self.cap = <int64_t*>p, cap
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
    cdef uint64_t* ids           # the visited set: (hash's top 32 bits << 32) | id + 1
    cdef int64_t idcap           # by hash, 0 when free (Fingerprints: the hash itself)
    cdef uint64_t* ys            # one expansion's successors (w words each)
    cdef uint64_t* hs            # and their hashes
    cdef int64_t* ls             # and their labels
    cdef Buffer keep_words, put_words, first, sizes, labels    # the step pool (Hooks)
    cdef Buffer sstart, sword, skeep, sput    # its steps as the words each writes
    cdef int64_t ycap
    cdef Memo* memos             # every thread's Memo per pc code, flattened
    cdef int64_t nmemos
    cdef int64_t* base           # per thread: its first Memo in `memos`
    cdef int64_t* offsets        # per thread: where its pc's bits start
    cdef uint64_t* pcmasks       # per thread: its pc's bits, unshifted
    cdef int threads
    cdef Memo* flags             # the halted test and the end test
    cdef Memo* verdicts          # per property: its value (0, 1) keyed by what it reads
    cdef int64_t nprops
    cdef bytes always            # per property: 1 for an invariant (news when false)
    cdef int pw                  # words in a set of properties, a bit each
    cdef Memo* sets              # a set of properties (pw words) -> its id in Hooks.found
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
        self.nmemos = 0
        for t, (offset, mask) in enumerate(plan):
            self.base[t], self.offsets[t], self.pcmasks[t] = self.nmemos, offset, mask
            self.nmemos += mask + 1
        self.memos = _memos(self.nmemos, w, True)
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
        self.ids = <uint64_t*>_zeroed(self.idcap * sizeof(uint64_t))
        self.ycap = 0
        self.ys = self.hs = NULL
        self.ls = NULL
        self.keep_words, self.put_words = hooks.keep_words, hooks.put_words
        self.first, self.sizes, self.labels = hooks.first, hooks.count, hooks.labels
        self.sstart, self.sword, self.skeep, self.sput = Buffer(), Buffer(), Buffer(), Buffer()
        self.sstart.append(0)
        if not self.ids:
            raise MemoryError()
        self.flags = _memos(2, w)
        if len(always) > 64 * MAXW:
            raise ValueError(f"more than {64 * MAXW} properties")
        self.always = bytes(always)
        self.nprops = len(always)
        self.verdicts = _memos(self.nprops, w)
        self.pw = max(1, (len(always) + 63) // 64)
        self.sets = _memos(1, self.pw)
        self.back_edges = 0
        self.bound = None

    def __dealloc__(self):
        _unzeroed(self.ids, self.idcap * sizeof(uint64_t))
        free(self.ys)
        free(self.hs)
        free(self.ls)
        free(self.base)
        free(self.offsets)
        free(self.pcmasks)
        self.free_caches()

    cdef void free_caches(self) noexcept:
        _memos_free(self.memos, self.nmemos)
        _memos_free(self.flags, 2)
        _memos_free(self.verdicts, self.nprops)
        _memos_free(self.sets, 1)
        self.memos = self.flags = self.verdicts = self.sets = NULL
        self.nmemos = self.nprops = 0

    cdef inline uint64_t* at(self, int64_t sid) noexcept:
        return <uint64_t*>self.states.data.as_ulonglongs + sid * self.w

    cdef inline int64_t lookup(self, const uint64_t* x) noexcept:
        return self.lookup_h(x, _mix(x, self.w))

    cdef inline int64_t lookup_h(self, const uint64_t* x, uint64_t h) noexcept:
        """The id of state x (whose hash is h), or -(its free slot) - 1. The set holds ids
        only, and compares against the state array (no second copy of the states). Each
        slot keeps the hash's top 32 bits beside the id: they give the slot a state
        starts probing from, and they skip other states' slots without reading those
        states."""
        cdef uint64_t mask = <uint64_t>(self.idcap - 1)
        cdef uint64_t tag = h >> 32, i = tag & mask, slot
        cdef int64_t sid
        while True:
            slot = self.ids[i]
            if not slot:
                return -<int64_t>i - 1
            if slot >> 32 == tag:
                sid = <int64_t>(slot & 0xFFFFFFFFULL) - 1
                if _eq(self.at(sid), x, self.w):
                    return sid
            i = (i + 1) & mask

    cdef inline void place(self, uint64_t slot) noexcept:
        """Put `slot` (a tag and an id not in the set) in the first free slot from its
        tag's."""
        cdef uint64_t mask = <uint64_t>(self.idcap - 1)
        cdef uint64_t i = (slot >> 32) & mask
        while self.ids[i]:
            i = (i + 1) & mask
        self.ids[i] = slot

    cdef int rehash(self) except -1:
        """Twice the slots, each id moved by its tag (no state is read)."""
        cdef uint64_t* old = self.ids
        cdef int64_t i, cap = self.idcap
        self.ids = <uint64_t*>_zeroed(cap * 2 * sizeof(uint64_t))
        if not self.ids:
            self.ids = old
            raise MemoryError()
        self.idcap = cap * 2
        for i in range(cap):
            if old[i]:
                self.place(old[i])
        _unzeroed(old, cap * sizeof(uint64_t))
        return 0

    cdef int64_t add(self, const uint64_t* x, uint64_t h, int64_t free_slot,
                     int64_t parent, int64_t label) except -2:
        """The id of new state x (hash h; `free_slot` is where lookup_h found none), or
        -1 when the bound on states is reached."""
        cdef int64_t sid = self.n
        cdef uint64_t slot
        if sid == self.limit:
            return -1
        if sid == 0x7FFFFFFF:
            raise OverflowError("2^31 states: the Graph's state ids are 32-bit")
        carray.extend_buffer(self.states, <char*>x, self.w)    # the set names it next
        slot = (h >> 32) << 32 | <uint64_t>(sid + 1)
        if (sid + 1) * 2 > self.idcap:
            self.rehash()
            self.place(slot)
        else:
            self.ids[free_slot] = slot
        self.n += 1
        _push_i(self.parent, <int>parent)
        _push_i(self.label, <int>label)
        _push_i(self.depth, 0 if parent < 0 else self.depth.data.as_ints[parent] + 1)
        self.screen(sid, x)
        return sid

    cdef int screen(self, int64_t sid, const uint64_t* x) except -1:
        """Record the properties whose value is news at new state `sid` (as their set's
        id in Hooks.found), from each property's own cache (`judge`). (A cache keyed by
        what they all read, in front of those, was dropped: its key spans nearly the
        whole state, and at socket N=6 it held half a million entries, 200 MB; without
        it fingerprint runs were faster and the full search no slower beyond the
        machine's noise; docs/scale.md.)"""
        cdef int64_t found = self.judge(x)
        if found >= 0:
            self.note(sid, found)
        return 0

    cdef int note(self, int64_t sid, int64_t found) except -1:
        """Tell `_fill`, in order, that the properties of set `found` are news at `sid`."""
        _push_q(self.settle, sid)
        _push_q(self.settle, found)
        return 0

    cdef int64_t judge(self, const uint64_t* x) except -2:
        """The id of the set of properties whose value is news at x (an invariant false,
        a `sometimes` true), or -1 for none. Each value comes from its own cache; on a
        miss, from Hooks.value (the property's cache in Python)."""
        cdef uint64_t news[MAXW]
        cdef uint64_t ones[MAXW]
        cdef int64_t v, i, n = self.nprops, any = 0
        cdef Memo* memo
        cdef const unsigned char* always = <const unsigned char*><const char*>self.always
        cdef object state = None
        memset(news, 0, sizeof(news))
        for i in range(n):
            memo = &self.verdicts[i]
            v = _memo_get(memo, x, -1)
            if v < 0:
                state = _to_int(x, self.w) if state is None else state
                value, mask = self.on_value(i, state)
                v = 1 if value else 0
                _memo_put(memo, x, mask, v)
            if v != always[i]:
                news[i >> 6] |= (<uint64_t>1) << (i & 63)
                any = 1
        if not any:
            return -1
        v = _memo_get(self.sets, news, -1)
        if v < 0:
            v = self.on_news(_to_int(news, self.pw))
            memset(ones, 0xff, sizeof(ones))
            _memo_put_words(self.sets, news, ones, v)
        return v

    cdef int64_t steps_of(self, int t, const uint64_t* x) except -2:
        """The id of thread t's steps from x in the pool Hooks.miss fills."""
        cdef int64_t offset = self.offsets[t]
        cdef int64_t word = offset >> 6, shift = offset & 63
        cdef uint64_t pc = x[word] >> shift
        if shift and word + 1 < self.w:
            pc |= x[word + 1] << (64 - shift)
        pc &= self.pcmasks[t]
        cdef Memo* memo = &self.memos[self.base[t] + <int64_t>pc]
        cdef int64_t sid = _memo_get(memo, x, -1)
        if sid < 0:
            sid, mask = self.on_miss(t, pc, _to_int(x, self.w))
            _memo_put(memo, x, mask, sid)
            self.sparsify()
        return sid

    cdef int64_t flag(self, Memo* memo, object function, const uint64_t* x) except -2:
        cdef int64_t v = _memo_get(memo, x, -1)
        if v < 0:
            value, mask = function(_to_int(x, self.w))
            v = 1 if value else 0
            _memo_put(memo, x, mask, v)
        return v

    def run(self, list initial):
        cdef uint64_t x[MAXW]
        cdef uint64_t h
        cdef int64_t nid, head = 0, level_end = 0
        for v in initial:
            _from_int(v, x, self.w)
            h = _mix(x, self.w)
            nid = self.lookup_h(x, h)
            if nid < 0:
                if self.add(x, h, -nid - 1, -1, -1) < 0:
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
                stop = self.on_checkpoint(head, self.n, None, self.depth.data.as_ints[head - 1])
                if stop:
                    self.bound = stop
                    return

    cdef int expand(self, int64_t head, int64_t level_end) except -2:
        """Add the successors of state `head` and its edges (an edge to a state below
        `level_end` goes back up the search, or is a spin), and tell whether it is an
        end, a dead end or a spinner; -1 when the bound on states is reached. The
        successors are all made first, and their slots and states fetched ahead, so
        that the visited set's cache misses overlap instead of coming one by one."""
        cdef uint64_t x[MAXW]
        cdef uint64_t* y
        cdef int64_t nid, j, m = 0, loops = 0, back = 0
        memcpy(x, self.at(head), self.w * sizeof(uint64_t))
        if not self.flag(&self.flags[0], self.on_halted, x):
            m = self.successors(x)
            self.fetch_ahead(m)
        for j in range(m):
            y = self.ys + j * self.w
            nid = self.lookup_h(y, self.hs[j])
            if nid < 0:
                nid = self.add(y, self.hs[j], -nid - 1, head, self.ls[j])
                if nid < 0:
                    return -1
            elif nid == head:
                loops += 1
            elif nid < level_end:
                back += 1
            _push_i(self.succ, <int>nid)
        _push_q(self.start, Py_SIZE(self.succ))
        self.back_edges += back
        self.classify(head, x, m, loops)
        return 0

    cdef int64_t successors(self, const uint64_t* x) except -1:
        """Every thread's steps from x applied, in order, into `ys` (their hashes in
        `hs`, their labels in `ls`), each one's slot in the visited set fetched ahead;
        how many. A step writes a few words (`sparsify`), and the hash is updated for
        them alone."""
        cdef int64_t t, k, e, at, c, pool_id, m = 0
        cdef int i, w = self.w
        cdef uint64_t* y
        cdef uint64_t h, sum_x = _sum(x, w), v
        for t in range(self.threads):
            pool_id = self.steps_of(t, x)
            at, c = self.first.data[pool_id], self.sizes.data[pool_id]
            if m + c > self.ycap:
                self.grow_ys(m + c)
            for k in range(at, at + c):
                y = self.ys + m * w
                memcpy(y, x, w * sizeof(uint64_t))
                h = sum_x
                for e in range(self.sstart.data[k], self.sstart.data[k + 1]):
                    i = <int>self.sword.data[e]
                    v = (x[i] & <uint64_t>self.skeep.data[e]) | <uint64_t>self.sput.data[e]
                    h += _word(v, i) - _word(x[i], i)
                    y[i] = v
                h = _final(h)
                self.hs[m], self.ls[m] = h, self.labels.data[k]
                __builtin_prefetch(&self.ids[(h >> 32) & <uint64_t>(self.idcap - 1)])
                m += 1
        return m

    cdef int sparsify(self) except -1:
        """The steps the pool gained since the last call, as the words each writes:
        (word, keep, put) where keep is not all ones or put is not zero."""
        cdef int64_t k, i, w = self.w, steps = self.keep_words.size // self.w
        cdef int64_t keep, put
        for k in range(self.sstart.size - 1, steps):
            for i in range(w):
                keep, put = self.keep_words.data[k * w + i], self.put_words.data[k * w + i]
                if keep != -1 or put != 0:
                    self.sword.append(i)
                    self.skeep.append(keep)
                    self.sput.append(put)
            self.sstart.append(self.sword.size)
        return 0

    cdef void fetch_ahead(self, int64_t m) noexcept:
        """Fetch the state named in each successor's first slot (most often its own)."""
        cdef uint64_t mask = <uint64_t>(self.idcap - 1), slot
        cdef int64_t j
        for j in range(m):
            slot = self.ids[(self.hs[j] >> 32) & mask]
            if slot:
                __builtin_prefetch(self.at(<int64_t>(slot & 0xFFFFFFFFULL) - 1))

    cdef int grow_ys(self, int64_t need) except -1:
        """Room for `need` successors of one state (each array kept if another fails)."""
        cdef int64_t cap = max(64, self.ycap)
        cdef void* p
        while cap < need:
            cap *= 2
        p = realloc(self.ys, cap * self.w * sizeof(uint64_t))
        if p:
            self.ys = <uint64_t*>p
            p = realloc(self.hs, cap * sizeof(uint64_t))
        if p:
            self.hs = <uint64_t*>p
            p = realloc(self.ls, cap * sizeof(int64_t))
        if not p:
            raise MemoryError()
        self.ls = <int64_t*>p
        self.ycap = cap
        return 0

    cdef int classify(self, int64_t head, const uint64_t* x, int64_t nsucc,
                      int64_t loops) except -1:
        """Record `head` as a proper end, a dead end (told in order) or a state that
        only spins."""
        cdef int64_t proper = self.flag(&self.flags[1], self.on_proper, x)
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

    def held(self):
        """What the search holds, by part: (entries, bytes) each (docs/scale.md)."""
        return {"visited set": [self.n, self.idcap * sizeof(uint64_t)],
                "states": [Py_SIZE(self.states) // self.w, Py_SIZE(self.states) * 8],
                "threads' steps": _memos_held(self.memos, self.nmemos),
                "halted, end": _memos_held(self.flags, 2),
                "properties' values": _memos_held(self.verdicts, self.nprops)}

    cdef void release(self):
        """Free the caches and let go of the hooks: the search is over."""
        self.free_caches()
        self.keep_words = self.put_words = self.first = self.sizes = self.labels = None
        self.sstart = self.sword = self.skeep = self.sput = None
        self.hooks = self.on_miss = self.on_value = self.on_news = self.on_halted = None
        self.on_proper = self.on_checkpoint = None

    def hand_over(self):
        """The arrays the Graph takes as they are (trimmed to their size), and the states
        as `States`; the caches, no longer needed, are freed."""
        self.release()
        for a in (self.states, self.parent, self.label, self.depth, self.succ, self.start,
                  self.ends, self.loops, self.spin, self.settle):
            carray.resize(a, Py_SIZE(a))
        return States(self), {"parent": self.parent, "label": self.label,
                              "depth": self.depth, "succ": self.succ, "start": self.start,
                              "ends": self.ends, "loops": self.loops, "spin": self.spin,
                              "settle": self.settle}


cdef FILE* _stream(int fd) except NULL:
    """A buffered stream over file descriptor `fd` (read and written; closed with it)."""
    cdef FILE* f = fdopen(fd, "w+b")
    if f == NULL:
        raise OSError(f"cannot open file descriptor {fd} for the search's files")
    setvbuf(f, NULL, _IOFBF, 1 << 20)
    return f


cdef int _write(const void* data, size_t size, size_t count, FILE* f) except -1:
    if fwrite(data, size, count, f) != count:
        _files_failed("written")
    return 0


class FilesFailed(OSError):
    """Fingerprint mode's files could not be written (a full disk, a file size limit) or
    read back; core.py ends the search there as at a bound."""


cdef int _files_failed(str what) except -1:
    """Raise FilesFailed with errno's number and text."""
    cdef int e = errno or 5              # EIO where the stream kept no errno
    raise FilesFailed(e, f"{os.strerror(e)}, as they were {what}")


DEF CHUNK = 4096      # frontier states read back at once


cdef class Fingerprints(Search):
    """Fingerprint mode (`--fingerprint`) in the compiled loop: hash compaction, as TLC
    keeps its states. The visited set (`ids`) holds each state's 64-bit hash and nothing
    else, 8 bytes a slot and at most three quarters full, placed by the hash's top bits
    as the full search places its slots (so `rehash` and the prefetch in `successors`
    serve both; `fetch_ahead`, which reads a slot as an id, is not used here).
    The frontier goes to a file a depth at a time; each state's parent id and
    fingerprint go to two more, which a counterexample is walked back through (TLC keeps
    both on disk too). No edge is kept: safety properties, deadlocks and `sometimes` are
    checked, and the liveness properties, which need the graph, are not."""
    cdef FILE* level[2]              # the frontier: the depth being read, the next written
    cdef int out                     # which of the two is written
    cdef FILE* parents               # by state id: its parent's id (int32)
    cdef FILE* hashes                # by state id: its fingerprint (uint64)
    cdef uint64_t* chunk             # frontier states read back
    cdef int64_t noted               # news sets told (each at the first state it is at)
    cdef carray.array end_words      # the proper ends' states, w words each
    cdef public int64_t edges, deepest

    def __cinit__(self, *args):
        self.level[0] = self.level[1] = self.parents = self.hashes = NULL
        self.out = 0
        self.chunk = NULL
        self.noted = self.edges = self.deepest = 0
        self.end_words = array.array("Q")

    def __dealloc__(self):
        self.close()
        free(self.chunk)

    cdef void close(self) noexcept:
        cdef int i
        for i in range(2):
            if self.level[i]:
                fclose(self.level[i])
            self.level[i] = NULL
        if self.parents:
            fclose(self.parents)
        if self.hashes:
            fclose(self.hashes)
        self.parents = self.hashes = NULL

    def open(self, int level_a, int level_b, int parents, int hashes):
        """Take four file descriptors, closed with the search (or here, if it cannot
        take them all): the frontier's two files, then the parents' and the
        fingerprints' (whose contents outlive it: `hand_over`)."""
        cdef int k
        fds = [level_a, level_b, parents, hashes]
        try:
            for k in range(4):
                f = _stream(fds[k])
                if k < 2:
                    self.level[k] = f
                elif k == 2:
                    self.parents = f
                else:
                    self.hashes = f
                fds[k] = -1
        finally:
            for fd in fds:
                if fd >= 0:
                    close_fd(fd)
        self.chunk = <uint64_t*>malloc(CHUNK * self.w * sizeof(uint64_t))
        if not self.chunk:
            raise MemoryError()

    def run(self, list initial):
        cdef uint64_t x[MAXW]
        cdef int64_t size, depth = 0, head = 0
        if not (self.chunk and self.hashes):
            raise ValueError("Fingerprints.open() takes the search's files first")
        for v in initial:
            _from_int(v, x, self.w)
            if self.visit(x, _mix(x, self.w), -1, 0) == -1:
                return
        size = self.n
        while size:
            head = self.depth_of(head, size, depth)
            if head < 0:
                return
            size = self.n - head
            depth += 1

    cdef int64_t depth_of(self, int64_t head, int64_t size, int64_t depth) except -2:
        """Expand the `size` states of `depth`, from id `head` on, as they are read back
        from the frontier's file while the next depth's are written to the other; the
        next id to expand, or -1 when the search stops (`bound` says why)."""
        cdef FILE* f = self.level[self.out]
        cdef int64_t k, got = 0, at = 0
        self.out = 1 - self.out
        if fflush(f):
            _files_failed("written")
        rewind(f)
        rewind(self.level[self.out])
        for k in range(size):
            if at == got:
                got, at = <int64_t>fread(self.chunk, sizeof(uint64_t) * self.w,
                                         min(CHUNK, size - k), f), 0
                if got == 0:
                    _files_failed("read back")
            if self.expand_fingerprints(head, self.chunk + at * self.w, depth) < 0:
                return -1
            head += 1
            at += 1
            if not head % 1024:
                stop = self.on_checkpoint(head, self.n, self.reserve(), depth)
                if stop:
                    self.bound = stop
                    return -1
        return head

    cdef int64_t reserve(self) noexcept:
        """The bytes a doubling of the visited set adds while the old table is held, once
        it is near (past three fifths full): the memory bound keeps room for it."""
        return self.idcap * 16 if self.n * 5 > self.idcap * 3 else 0

    cdef int expand_fingerprints(self, int64_t head, const uint64_t* x,
                                 int64_t depth) except -2:
        """Add the successors of state `head` (x) whose fingerprints are new; -1 when a
        bound on states is reached (`bound` says which)."""
        cdef int64_t j, m = 0
        if not self.flag(&self.flags[0], self.on_halted, x):
            m = self.successors(x)
        self.edges += m
        for j in range(m):
            if self.visit(self.ys + j * self.w, self.hs[j], head, depth + 1) == -1:
                return -1
        self.classify(head, x, m, 0)
        return 0

    cdef int64_t visit(self, const uint64_t* x, uint64_t h, int64_t parent,
                       int64_t depth) except -3:
        """State x (hash h) at `depth`: its new id if its fingerprint is new (its state
        written to the frontier, its parent and fingerprint to theirs); -2 if seen
        before; -1 at a bound on states (--max-states, or the 2^31 the 32-bit parent ids
        and the slots' index, the hash's top 32 bits, can name)."""
        cdef uint64_t mask = <uint64_t>(self.idcap - 1), i
        cdef int64_t sid = self.n
        cdef int32_t up = <int32_t>parent
        h |= (h == 0)                    # 0 marks a free slot
        i = (h >> 32) & mask
        while self.ids[i]:
            if self.ids[i] == h:
                return -2
            i = (i + 1) & mask
        if sid == self.limit:
            self.bound = "max"
            return -1
        if sid == 0x7FFFFFFF:
            self.bound = "2^31 states reached (fingerprint mode's most: its ids are 32-bit)"
            return -1
        _write(x, sizeof(uint64_t), self.w, self.level[self.out])
        _write(&up, sizeof(int32_t), 1, self.parents)
        _write(&h, sizeof(uint64_t), 1, self.hashes)
        self.ids[i] = h
        self.n += 1
        self.deepest = depth
        if self.n * 4 > self.idcap * 3:
            self.rehash()
        self.screen(sid, x)
        return sid

    cdef int note(self, int64_t sid, int64_t found) except -1:
        """Only the first state a set of news is at is told: with no graph, nothing
        after it is judged (the liveness goals are not checked in this mode). Hooks.news
        numbers the sets in the order their first states are found, each once (`sets`
        keeps every id it gave), so a set is new exactly when its id is the next."""
        if found > self.noted:
            raise AssertionError(f"news set {found} told before set {self.noted}")
        if found == self.noted:
            self.noted += 1
            _push_q(self.settle, sid)
            _push_q(self.settle, found)
        return 0

    cdef int classify(self, int64_t head, const uint64_t* x, int64_t nsucc,
                      int64_t loops) except -1:
        """A proper end is kept whole (reports count its kind); a dead end is told."""
        if self.flag(&self.flags[1], self.on_proper, x):
            _push_q(self.ends, head)
            carray.extend_buffer(self.end_words, <char*>x, self.w)
        elif nsucc == 0:
            _push_q(self.settle, head)
            _push_q(self.settle, -1)
        return 0

    def hand_over(self):
        """The proper ends and their states, the events `_fill` settles in order, and
        why the parents' and fingerprints' files are short, if they are (None, or
        errno's text). They are flushed, and the caller keeps them for the
        counterexamples; the rest is freed. It raises nothing: it runs in a `finally`."""
        cdef int64_t k
        cdef int e = 0
        if self.parents and self.hashes:
            if fflush(self.parents) or fflush(self.hashes) or ferror(self.parents) or \
                    ferror(self.hashes):
                e = errno or 5                # EIO, as in _files_failed
        self.close()
        self.release()
        _unzeroed(self.ids, self.idcap * sizeof(uint64_t))
        self.ids, self.idcap = NULL, 0
        words = <uint64_t*>self.end_words.data.as_ulonglongs
        return {"ends": self.ends, "settle": self.settle,
                "short": os.strerror(e) if e else None,
                "end_states": [_to_int(words + k * self.w, self.w)
                               for k in range(Py_SIZE(self.ends))]}


def fingerprint(state, int w):
    """The fingerprint `Fingerprints` keeps of a state (an int of at most w words)."""
    cdef uint64_t x[MAXW]
    _from_int(state, x, w)
    return _mix(x, w) or 1


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


def sccs(succ_a, start_a, excluded_a, Py_ssize_t n):
    """liveness.sccs on the graph's arrays: the strongly connected sets of the states not
    excluded that hold a cycle (more than one state, or one with an edge to itself), each
    sorted, in the order of their first state: the Python version's list (Tarjan's
    algorithm, iterative; which sets there are does not depend on the order)."""
    cdef const int[:] succ = succ_a
    cdef const long long[:] start = start_a
    cdef const unsigned char[:] excluded = excluded_a
    cdef Py_ssize_t root, m = start.shape[0] - 1
    cdef Tarjan t
    out = []
    if not _tarjan_open(&t, n):
        raise MemoryError()
    try:
        for root in range(n):
            if not t.index[root] and not excluded[root]:
                _tarjan_from(&t, <int>root, succ, start, excluded, m, out)
    finally:
        _tarjan_close(&t)
    return sorted(out)


ctypedef struct Tarjan:
    int* index                   # by state: its order of discovery from 1, 0 if unseen
    int* low                     # the lowest index reachable through the search tree
    unsigned char* on_stack
    int* stack                   # the states of the sets not yet closed
    int* work_v                  # the depth-first path: each state,
    long long* work_k            # and its next edge
    int counter, top


cdef bint _tarjan_open(Tarjan* t, Py_ssize_t n) noexcept:
    t.index = <int*>calloc(n + 1, sizeof(int))
    t.low = <int*>malloc((n + 1) * sizeof(int))
    t.on_stack = <unsigned char*>calloc(n + 1, 1)
    t.stack = <int*>malloc((n + 1) * sizeof(int))
    t.work_v = <int*>malloc((n + 1) * sizeof(int))
    t.work_k = <long long*>malloc((n + 1) * sizeof(long long))
    t.counter = t.top = 0
    return (t.index != NULL and t.low != NULL and t.on_stack != NULL and t.stack != NULL and
            t.work_v != NULL and t.work_k != NULL)


cdef void _tarjan_close(Tarjan* t) noexcept:
    free(t.index); free(t.low); free(t.on_stack); free(t.stack); free(t.work_v)
    free(t.work_k)


cdef inline void _tarjan_push(Tarjan* t, int v, Py_ssize_t* wp, const long long[:] start,
                              Py_ssize_t m) noexcept:
    t.counter += 1
    t.index[v] = t.low[v] = t.counter
    t.stack[t.top] = v
    t.top += 1
    t.on_stack[v] = 1
    t.work_v[wp[0]] = v
    t.work_k[wp[0]] = start[v] if v < m else 0
    wp[0] += 1


cdef int _tarjan_from(Tarjan* t, int root, const int[:] succ, const long long[:] start,
                      const unsigned char[:] excluded, Py_ssize_t m, list out) except -1:
    """Tarjan's search from `root`: each set it closes that holds a cycle, to `out`."""
    cdef Py_ssize_t wp = 0
    cdef long long k, end
    cdef int v, w
    _tarjan_push(t, root, &wp, start, m)
    while wp:
        v, k = t.work_v[wp - 1], t.work_k[wp - 1]
        end = start[v + 1] if v < m else 0
        if k < end:
            t.work_k[wp - 1] = k + 1
            w = succ[k]
            if excluded[w]:
                continue
            if not t.index[w]:
                _tarjan_push(t, w, &wp, start, m)
            elif t.on_stack[w] and t.index[w] < t.low[v]:
                t.low[v] = t.index[w]
            continue
        wp -= 1
        if wp and t.low[v] < t.low[t.work_v[wp - 1]]:
            t.low[t.work_v[wp - 1]] = t.low[v]
        if t.low[v] == t.index[v]:
            _tarjan_close_set(t, v, succ, start, m, out)
    return 0


cdef int _tarjan_close_set(Tarjan* t, int v, const int[:] succ, const long long[:] start,
                           Py_ssize_t m, list out) except -1:
    """Pop the set whose root is v; keep it if it holds a cycle."""
    cdef Py_ssize_t bottom = t.top
    cdef long long k
    cdef bint cycle = False
    while True:
        bottom -= 1
        t.on_stack[t.stack[bottom]] = 0
        if t.stack[bottom] == v:
            break
    if t.top - bottom > 1:
        cycle = True
    elif v < m:
        for k in range(start[v], start[v + 1]):
            if succ[k] == v:
                cycle = True
                break
    if cycle:
        out.append(sorted([t.stack[k] for k in range(bottom, t.top)]))
    t.top = bottom
    return 0
