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


# Two threads for one search (issue 21): a batch of states of one depth is expanded by
# POSIX threads, with no GIL, from the caches alone, into the visited set they share.
# A new state gets a provisional place (`Batch.news`) holding the least of the (parent,
# successor index) pairs that found it. Then each new state gets its id at that least
# pair, in the batch's order, which is where the one-thread search gives it: the threads
# count the new states each run of PER_TAKE states found first, the main thread sums the
# counts, and the threads write the new states, their ids and the edges where the sums
# say. So the graph is the same, state for state and edge for edge.

cdef extern from *:
    """
    #include <pthread.h>
    static inline uint64_t core_cas(uint64_t* p, uint64_t expect, uint64_t want) {
        return __sync_val_compare_and_swap(p, expect, want);
    }
    static inline uint64_t core_load(const uint64_t* p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline void core_store(uint64_t* p, uint64_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline int64_t core_take(int64_t* p, int64_t n) {
        return __atomic_fetch_add(p, n, __ATOMIC_ACQ_REL);
    }
    static inline void core_lower(uint64_t* p, uint64_t v) {
        uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
        while (v < old && !__atomic_compare_exchange_n(p, &old, v, 1, __ATOMIC_ACQ_REL,
                                                       __ATOMIC_RELAXED)) {}
    }
    typedef void* (*core_routine)(void*);
    /* The search's threads, made once and woken for each phase of a batch (three or
       four a batch), where each phase used to make its own (docs/scale.md, eleventh
       step). */
    typedef struct {
        pthread_mutex_t mu;
        pthread_cond_t go, done;
        core_routine job;
        void* arg;
        long long round;      /* bumped for each job */
        int busy;             /* threads still on this round's job */
        int size, stop, ready;
        pthread_t tids[64];
    } core_pool;

    static void* core_pool_loop(void* p) {
        core_pool* pool = (core_pool*)p;
        long long seen = 0;
        pthread_mutex_lock(&pool->mu);
        for (;;) {
            while (pool->round == seen && !pool->stop)
                pthread_cond_wait(&pool->go, &pool->mu);
            if (pool->stop)
                break;
            seen = pool->round;
            core_routine job = pool->job;
            void* arg = pool->arg;
            pthread_mutex_unlock(&pool->mu);
            job(arg);
            pthread_mutex_lock(&pool->mu);
            if (--pool->busy == 0)
                pthread_cond_signal(&pool->done);
        }
        pthread_mutex_unlock(&pool->mu);
        return NULL;
    }

    /* Up to n threads (as many as could be made), made once: an open pool keeps
       the threads it has. */
    static int core_pool_open(core_pool* pool, int n) {
        if (pool->ready)
            return pool->size;
        pthread_mutex_init(&pool->mu, NULL);
        pthread_cond_init(&pool->go, NULL);
        pthread_cond_init(&pool->done, NULL);
        pool->round = pool->busy = pool->size = pool->stop = 0;
        pool->ready = 1;
        while (pool->size < n && pool->size < 64 &&
               pthread_create(&pool->tids[pool->size], NULL, core_pool_loop, pool) == 0)
            pool->size++;
        return pool->size;
    }

    /* job(arg) on the pool's threads and this one; back when all are done. */
    static void core_pool_run(core_pool* pool, core_routine job, void* arg) {
        pthread_mutex_lock(&pool->mu);
        pool->job = job;
        pool->arg = arg;
        pool->busy = pool->size;
        pool->round++;
        pthread_cond_broadcast(&pool->go);
        pthread_mutex_unlock(&pool->mu);
        job(arg);
        pthread_mutex_lock(&pool->mu);
        while (pool->busy)
            pthread_cond_wait(&pool->done, &pool->mu);
        pthread_mutex_unlock(&pool->mu);
    }

    static void core_pool_close(core_pool* pool) {
        int i;
        if (!pool->ready)
            return;
        pthread_mutex_lock(&pool->mu);
        pool->stop = 1;
        pthread_cond_broadcast(&pool->go);
        pthread_mutex_unlock(&pool->mu);
        for (i = 0; i < pool->size; i++)
            pthread_join(pool->tids[i], NULL);
        pthread_mutex_destroy(&pool->mu);
        pthread_cond_destroy(&pool->go);
        pthread_cond_destroy(&pool->done);
        pool->ready = pool->size = 0;
    }
    """
    ctypedef void* (*core_routine)(void*) noexcept nogil
    uint64_t core_cas(uint64_t* p, uint64_t expect, uint64_t want) noexcept nogil
    uint64_t core_load(const uint64_t* p) noexcept nogil
    void core_store(uint64_t* p, uint64_t v) noexcept nogil
    int64_t core_take(int64_t* p, int64_t n) noexcept nogil
    void core_lower(uint64_t* p, uint64_t v) noexcept nogil
    ctypedef struct core_pool:
        pass
    int core_pool_open(core_pool* pool, int n) noexcept nogil
    void core_pool_run(core_pool* pool, core_routine job, void* arg) noexcept nogil
    void core_pool_close(core_pool* pool) noexcept nogil

DEF NEWBIT = 2147483648       # a visited-set slot naming a provisional state, not an id
DEF NS = 5                    # a provisional state: pair, hash, slot, news + 3, id
DEF UNSCREENED = 1            # its news + 3 when a property's cache missed
DEF JBITS = 24                # a pair: (parent id << JBITS) | successor index
DEF WORKERS_MAX = 64
DEF PER_TAKE = 32             # states a thread takes from the batch at once
DEF BATCH = 16384             # states a batch expands at most
DEF EXPAND = 0                # the threads' phases of a batch (`Batch.phase`)
DEF COUNT = 1
DEF PLACE = 2
DEF LINK = 3
DEF SEEN = 0x7FFFFFFFFFFFFFFF  # fingerprint mode: a successor whose hash was seen before
DEF FULL = 0x7FFFFFFFFFFFFFFE  # and one the batch's table has no room for (half full)


DEF MAXCH = 16               # channels the core sorts under symmetry (more: the Python loop)
DEF MAXLOOPS = 4             # loops over channels it watches


cdef struct Symmetry:
    # Channel symmetry (PackedSystem.symmetry_plan): each successor's channel rows
    # sorted as numbers (`_canon`), and the loops over channels watched.
    int on, channels, rwords, nloops
    int64_t rbase, rbits              # where channel 0's row starts; a row's bits
    int64_t pc_off[MAXLOOPS]          # per loop: its thread's pc, and its position
    int64_t pc_bits[MAXLOOPS]
    int64_t i_off[MAXLOOPS]
    int64_t i_bits[MAXLOOPS]
    uint64_t inside[MAXLOOPS]         # the pcs inside the loop, a bit each
    uint64_t held[MAXLOOPS]           # the pcs where it committed to a channel
    uint64_t half[MAXLOOPS]           # the positions half way through the channels
    int* lost                         # set when a state has a loop where symmetry fails


cdef inline uint64_t _bits(const uint64_t* x, int w, int64_t off, int64_t n) noexcept nogil:
    """The n (at most 64) bits of x from bit `off` on."""
    cdef int64_t word = off >> 6, shift = off & 63
    cdef uint64_t v = x[word] >> shift
    if shift and shift + n > 64 and word + 1 < w:
        v |= x[word + 1] << (64 - shift)
    if n < 64:
        v &= (<uint64_t>1 << n) - 1
    return v


cdef inline void _put_bits(uint64_t* x, int w, int64_t off, int64_t n, uint64_t v) noexcept nogil:
    """Bits `off` to off + n (n at most 64) of x set to v."""
    cdef int64_t word = off >> 6, shift = off & 63
    cdef uint64_t mask = ((<uint64_t>1 << n) - 1) if n < 64 else <uint64_t>0xFFFFFFFFFFFFFFFF
    x[word] = (x[word] & ~(mask << shift)) | (v << shift)
    if shift and shift + n > 64 and word + 1 < w:
        x[word + 1] = (x[word + 1] & ~(mask >> (64 - shift))) | (v >> (64 - shift))


cdef inline int _row_less(const uint64_t* a, const uint64_t* b, int n) noexcept nogil:
    """Whether row a is below row b as numbers (n words, low first)."""
    cdef int k
    for k in range(n - 1, -1, -1):
        if a[k] != b[k]:
            return a[k] < b[k]
    return 0


cdef int _watch(const Symmetry* s, const uint64_t* y, int w) noexcept nogil:
    """Whether a loop over channels is half way in y, or committed to a channel
    (Product.pinned with QEMU's index order): symmetry does not hold there."""
    cdef int k
    cdef uint64_t pc, i
    for k in range(s.nloops):     # codes, as the PackedSystem packs them
        pc = _bits(y, w, s.pc_off[k], s.pc_bits[k])
        if pc < 64 and (s.held[k] >> pc) & 1:
            return 1
        if pc < 64 and (s.inside[k] >> pc) & 1:
            i = _bits(y, w, s.i_off[k], s.i_bits[k])
            if i < 64 and (s.half[k] >> i) & 1:
                return 1
    return 0


cdef int _canon(const Symmetry* s, uint64_t* y, int w) noexcept nogil:
    """y with its channels' rows sorted as numbers, low first (PackedSystem._canonical);
    whether that moved one. A state where symmetry fails (`_watch`) sets `lost`."""
    cdef uint64_t rows[MAXCH][MAXW]
    cdef int order[MAXCH]
    cdef int c, k, j, moved = 0
    cdef int64_t off, n
    if s.nloops and _watch(s, y, w):
        s.lost[0] = 1
    for c in range(s.channels):
        off = s.rbase + c * s.rbits
        for k in range(s.rwords):
            n = min(64, s.rbits - 64 * k)
            rows[c][k] = _bits(y, w, off + 64 * k, n)
        order[c] = c
    for c in range(1, s.channels):         # insertion sort: stable, a few channels
        k = order[c]
        j = c - 1
        while j >= 0 and _row_less(rows[k], rows[order[j]], s.rwords):
            order[j + 1] = order[j]
            j -= 1
            moved = 1
        order[j + 1] = k
    if not moved:
        return 0
    for c in range(s.channels):
        off = s.rbase + c * s.rbits
        for k in range(s.rwords):
            _put_bits(y, w, off + 64 * k, min(64, s.rbits - 64 * k), rows[order[c]][k])
    return 1


cdef struct Batch:
    # What the threads share while they work on one batch. In each phase a thread writes
    # only what its own states own (their entries, their new states and edges), the
    # visited set's free slots, the provisional states and the counters.
    int w, threads
    int64_t nprops
    uint64_t* ids
    int64_t idcap
    const uint64_t* states
    Memo* memos
    int64_t* base
    int64_t* offsets
    uint64_t* pcmasks
    Memo* flags
    Memo* verdicts
    Memo* sets
    const unsigned char* always
    const int64_t* first
    const int64_t* sizes
    const int64_t* labels
    const int64_t* sstart
    const int64_t* sword
    const int64_t* skeep
    const int64_t* sput
    int64_t head0, heads, level_end, room      # room: the successors a state may have
    const uint64_t* xs        # the batch's states (in fingerprint mode, read back)
    int fp                    # fingerprint mode: `_visit_fp`, `_place_one`'s files, no edges
    uint64_t* newtab          # fingerprint mode: the batch's new hashes, 2 words a slot:
    int64_t newcap            # the hash, its provisional state + 1
    int phase                 # what the threads do: EXPAND, COUNT, PLACE, LINK
    int64_t* edges            # `room` a state: an id, or -(provisional state + 1)
    int32_t* elabels
    int64_t* count            # per state: its successors, or -1: left to the main thread
    int64_t** erow            # per state: where its edges are (in `edges`, or spilled)
    int32_t** lrow            # and their labels
    int64_t* wins             # per state: the new states whose least pair is its
    int64_t* firsts           # per run of PER_TAKE states: its first new id, then its
    int64_t* spans            # first edge's place in the Graph's edges
    int64_t n0                # the states before the batch's new ones
    int64_t* out_news         # per new state: its news + 3 (`Search.tell` reads them)
    int32_t* out_up           # fingerprint mode, per new state: its parent, its hash and
    uint64_t* out_fp          # its words, for the files
    uint64_t* out_front
    uint64_t* out_states      # the Graph's arrays, grown for the batch
    int* out_parent
    int* out_label
    int* out_depth
    int* out_succ
    long long* out_start
    int64_t* loops
    int64_t* back
    unsigned char* proper     # per state: the end test's answer
    uint64_t* news            # the provisional states, NS + w words each
    int64_t nnews, newscap, taken
    Symmetry sym              # channel symmetry, if on


cdef void _batch_free(Batch* b) noexcept:
    """The arrays a Batch owns (the rest it only points into)."""
    cdef void* owned[16]
    cdef int i
    owned[:] = [b.edges, b.elabels, b.news, b.count, b.loops, b.back, b.proper, b.erow,
                b.lrow, b.wins, b.firsts, b.spans, b.newtab, b.out_up, b.out_fp, b.out_front]
    for i in range(16):
        free(owned[i])


cdef inline uint64_t* _new_at(Batch* b, int64_t p) noexcept nogil:
    return b.news + p * (NS + b.w)


cdef inline uint64_t _pc(const Batch* b, int t, const uint64_t* x) noexcept nogil:
    """Thread t's control state in x."""
    return _bits(x, b.w, b.offsets[t], 64) & b.pcmasks[t]


cdef int64_t _apply(const Batch* b, int64_t pool_id, const uint64_t* x, uint64_t sum_x,
                    int64_t m, uint64_t* ys, uint64_t* hs, int32_t* ls) noexcept nogil:
    """The steps of pool entry `pool_id` applied to x (the sum of its hash's shares:
    sum_x), in order, into ys, hs and ls from m on, each one's slot in the visited set
    fetched ahead; m past them. A step writes a few words (`Search.sparsify`), and the
    hash is updated for them alone."""
    cdef int64_t k, e
    cdef int i, w = b.w
    cdef uint64_t* y
    cdef uint64_t h, v
    for k in range(b.first[pool_id], b.first[pool_id] + b.sizes[pool_id]):
        y = ys + m * w
        memcpy(y, x, w * sizeof(uint64_t))
        h = sum_x
        for e in range(b.sstart[k], b.sstart[k + 1]):
            i = <int>b.sword[e]
            v = (x[i] & <uint64_t>b.skeep[e]) | <uint64_t>b.sput[e]
            h += _word(v, i) - _word(x[i], i)
            y[i] = v
        h = _final(h)
        if b.sym.on and _canon(&b.sym, y, w):
            h = _mix(y, w)
        hs[m], ls[m] = h, <int32_t>b.labels[k]
        __builtin_prefetch(&b.ids[(h >> 32) & <uint64_t>(b.idcap - 1)])
        if b.fp:                 # and in fingerprint mode, the batch's own table's
            __builtin_prefetch(&b.newtab[2 * ((h | (h == 0)) & <uint64_t>(b.newcap - 1))])
        m += 1
    return m


cdef int64_t _successors_cached(Batch* b, const uint64_t* x, uint64_t* ys, uint64_t* hs,
                                int32_t* ls) noexcept nogil:
    """Search.successors from the caches alone: how many, or -1 on a miss."""
    cdef int64_t t, pool_id, m = 0
    cdef uint64_t sum_x = _sum(x, b.w)
    for t in range(b.threads):
        pool_id = _memo_get(&b.memos[b.base[t] + <int64_t>_pc(b, <int>t, x)], x, -1)
        if pool_id < 0 or m + b.sizes[pool_id] > b.room:
            return -1
        m = _apply(b, pool_id, x, sum_x, m, ys, hs, ls)
    return m


cdef int64_t _judge_cached(Batch* b, const uint64_t* x) noexcept nogil:
    """Search.judge from the caches alone: a set's id, -1 for none, -2 on a miss."""
    cdef uint64_t news[MAXW]
    cdef int64_t v, i, any = 0
    memset(news, 0, sizeof(news))
    for i in range(b.nprops):
        v = _memo_get(&b.verdicts[i], x, -1)
        if v < 0:
            return -2
        if v != b.always[i]:
            news[i >> 6] |= (<uint64_t>1) << (i & 63)
            any = 1
    if not any:
        return -1
    v = _memo_get(b.sets, news, -1)
    return v if v >= 0 else -2


cdef int64_t _propose(Batch* b, const uint64_t* x, uint64_t h, int64_t* mine) noexcept nogil:
    """A provisional state for x, not yet in the visited set (kept in `mine` for the
    next free slot when another thread takes this one first)."""
    cdef uint64_t* e
    if mine[0] < 0:
        mine[0] = core_take(&b.nnews, 1)
        e = _new_at(b, mine[0])
        e[1] = h
        memcpy(e + NS, x, b.w * sizeof(uint64_t))
    return mine[0]


cdef inline void _drop(Batch* b, int64_t mine) noexcept nogil:
    """A provisional state whose twin took a slot first: no pair names it."""
    if mine >= 0:
        _new_at(b, mine)[0] = <uint64_t>-1


cdef int64_t _visit(Batch* b, const uint64_t* x, uint64_t h, uint64_t pair) noexcept nogil:
    """x's id if it was found before the batch, else -(its provisional state + 1), whose
    pair is lowered to `pair`. A free slot is taken with a compare-and-swap once the
    state is written where the slot will name it."""
    cdef uint64_t mask = <uint64_t>(b.idcap - 1)
    cdef uint64_t tag = h >> 32, i = tag & mask, slot, low
    cdef int64_t mine = -1, p
    cdef uint64_t* e
    while True:
        slot = core_load(&b.ids[i])
        if not slot:
            p = _propose(b, x, h, &mine)
            e = _new_at(b, p)
            e[0], e[2] = pair, i
            slot = core_cas(&b.ids[i], 0, tag << 32 | <uint64_t>NEWBIT | <uint64_t>(p + 1))
            if not slot:
                e[3] = <uint64_t>(_judge_cached(b, x) + 3)
                return -p - 1
        if slot >> 32 == tag:
            low = slot & 0xFFFFFFFFULL
            if low & <uint64_t>NEWBIT:
                p = <int64_t>(low - <uint64_t>NEWBIT) - 1
                e = _new_at(b, p)
                if _eq(e + NS, x, b.w):
                    _drop(b, mine)
                    core_lower(e, pair)
                    return -p - 1
            elif _eq(b.states + (<int64_t>low - 1) * b.w, x, b.w):
                _drop(b, mine)
                return <int64_t>low - 1
        i = (i + 1) & mask


cdef int64_t _visit_fp(Batch* b, const uint64_t* x, uint64_t h, uint64_t pair) noexcept nogil:
    """Fingerprint mode's `_visit`: SEEN if x's hash was seen before the batch (the
    visited set is only read while the threads expand), else -(its provisional state +
    1), found or made in the batch's own table (`newtab`) and its pair lowered."""
    cdef uint64_t mask = <uint64_t>(b.idcap - 1), nmask = <uint64_t>(b.newcap - 1)
    cdef uint64_t i, key, v
    cdef int64_t mine = -1, p
    h |= (h == 0)                    # 0 marks a free slot (Fingerprints.visit)
    i = (h >> 32) & mask
    while b.ids[i]:
        if b.ids[i] == h:
            return SEEN
        i = (i + 1) & mask
    i = h & nmask
    while True:
        key = core_load(&b.newtab[2 * i])
        if not key:
            if mine < 0 and core_load(<uint64_t*>&b.nnews) * 2 >= <uint64_t>b.newcap:
                return <int64_t>FULL
            p = _propose(b, x, h, &mine)
            _new_at(b, p)[0], _new_at(b, p)[2] = pair, i
            key = core_cas(&b.newtab[2 * i], 0, h)
            if not key:
                core_store(&b.newtab[2 * i + 1], <uint64_t>(p + 1))
                _new_at(b, p)[3] = <uint64_t>(_judge_cached(b, x) + 3)
                return -p - 1
        if key == h:
            v = core_load(&b.newtab[2 * i + 1])
            while not v:             # its maker is between its two stores
                v = core_load(&b.newtab[2 * i + 1])
            _drop(b, mine)
            core_lower(_new_at(b, <int64_t>v - 1), pair)
            return -<int64_t>v
        i = (i + 1) & nmask


cdef int64_t _visit_all(Batch* b, int64_t k, int64_t m, const uint64_t* ys,
                        const uint64_t* hs, int64_t* edges) noexcept nogil:
    """Batch state k's m successors visited, their ids (or provisional states) in
    `edges`; how many are k itself (its loops). Its edges back up the search go in
    b.back."""
    cdef int64_t head = b.head0 + k, j, nid, loops = 0, back = 0
    for j in range(m):
        if b.fp:
            edges[j] = _visit_fp(b, ys + j * b.w, hs[j], <uint64_t>head << JBITS | <uint64_t>j)
            if edges[j] == <int64_t>FULL:
                return -1
            continue
        nid = _visit(b, ys + j * b.w, hs[j], <uint64_t>head << JBITS | <uint64_t>j)
        if nid == head:
            loops += 1
        elif 0 <= nid < b.level_end:
            back += 1
        edges[j] = nid
    b.back[k] = back
    return loops


cdef void _expand_cached(Batch* b, int64_t k, uint64_t* ys, uint64_t* hs,
                         int32_t* ls) noexcept nogil:
    """Batch state k's successors into its edges (Search.expand, from the caches); its
    count is left -1 when a cache misses, for the main thread (`Search.left`)."""
    cdef int64_t m = 0
    cdef const uint64_t* x = b.xs + k * b.w
    cdef int64_t halted = _memo_get(&b.flags[0], x, -1)
    cdef int64_t proper = _memo_get(&b.flags[1], x, -1)
    if halted < 0 or proper < 0:
        return
    b.proper[k] = <unsigned char>proper
    if not halted:
        m = _successors_cached(b, x, ys, hs, ls)
        if m < 0:
            return
    b.erow[k], b.lrow[k] = b.edges + k * b.room, b.elabels + k * b.room
    b.loops[k] = _visit_all(b, k, m, ys, hs, b.erow[k])
    if b.loops[k] < 0:           # the batch's table is half full: its visits are
        return                   # made again, with room, by the main thread
    memcpy(b.lrow[k], ls, m * sizeof(int32_t))
    b.count[k] = m


cdef inline int _first_at(Batch* b, int64_t k, int64_t j) noexcept nogil:
    """Whether edge j of batch state k names a new state first found there."""
    cdef int64_t nid = b.erow[k][j]
    return nid < 0 and _new_at(b, -nid - 1)[0] == (<uint64_t>(b.head0 + k) << JBITS |
                                                     <uint64_t>j)


cdef void _count(Batch* b, int64_t at, int64_t end) noexcept nogil:
    """The new states batch states at .. end - 1 found first, and their edges."""
    cdef int64_t k, j, found = 0, edges = 0
    for k in range(at, end):
        b.wins[k] = 0
        for j in range(b.count[k]):
            b.wins[k] += _first_at(b, k, j)
        found += b.wins[k]
        edges += b.count[k]
    b.firsts[at // PER_TAKE], b.spans[at // PER_TAKE] = found, edges


DEF PLACE_AHEAD = 16         # new states whose visited-set slots `_place` fetches ahead


cdef inline uint64_t* _slot_of(const Batch* b, const uint64_t* e) noexcept nogil:
    """The visited-set slot provisional state e goes to (in fingerprint mode, where its
    probe starts)."""
    if b.fp:
        return &b.ids[(e[1] >> 32) & <uint64_t>(b.idcap - 1)]
    return &b.ids[e[2]]


cdef void _place_one(Batch* b, uint64_t* e, int64_t parent, int32_t label,
                     int64_t sid) noexcept nogil:
    """New state e given id `sid`: in full mode its words, parent, label and depth in the
    Graph's arrays and its id in the visited set; in fingerprint mode its parent, hash
    and words where its id says, for the files, and its hash in the visited set."""
    cdef int64_t q = sid - b.n0
    cdef uint64_t mask = <uint64_t>(b.idcap - 1), i
    if b.fp:
        b.out_up[q], b.out_fp[q], b.out_news[q] = <int32_t>parent, e[1], e[3]
        memcpy(b.out_front + q * b.w, e + NS, b.w * sizeof(uint64_t))
        i = (e[1] >> 32) & mask
        while core_cas(&b.ids[i], 0, e[1]):
            i = (i + 1) & mask
        return
    e[4] = <uint64_t>sid
    memcpy(b.out_states + sid * b.w, e + NS, b.w * sizeof(uint64_t))
    b.out_news[q] = <int64_t>e[3]
    b.ids[e[2]] = (e[1] >> 32) << 32 | <uint64_t>(sid + 1)
    b.out_parent[sid] = <int>parent
    b.out_label[sid] = label
    b.out_depth[sid] = b.out_depth[parent] + 1


cdef void _place(Batch* b, int64_t at, int64_t end) noexcept nogil:
    """Each new state batch states at .. end - 1 found first, given its id in order
    (`_place_one`). Its visited-set slot is fetched PLACE_AHEAD new states before it is
    written: a slot lands anywhere in the table, and one thread waiting on each in turn
    made a batch cost more than expanding the states one at a time."""
    cdef int64_t k, j, n = 0, r, sid = b.firsts[at // PER_TAKE]
    cdef uint64_t* ring[PLACE_AHEAD]
    cdef int64_t parents[PLACE_AHEAD]
    cdef int32_t labels[PLACE_AHEAD]
    cdef uint64_t* e
    for k in range(at, end):
        for j in range(b.count[k]):
            if not _first_at(b, k, j):
                continue
            e = _new_at(b, -b.erow[k][j] - 1)
            __builtin_prefetch(_slot_of(b, e))
            r = n % PLACE_AHEAD
            if n >= PLACE_AHEAD:
                _place_one(b, ring[r], parents[r], labels[r], sid)
                sid += 1
            ring[r], parents[r], labels[r] = e, b.head0 + k, b.lrow[k][j]
            n += 1
    for r in range(max(0, n - PLACE_AHEAD), n):
        _place_one(b, ring[r % PLACE_AHEAD], parents[r % PLACE_AHEAD],
                   labels[r % PLACE_AHEAD], sid)
        sid += 1


cdef void _link(Batch* b, int64_t at, int64_t end) noexcept nogil:
    """The edges of batch states at .. end - 1 in the Graph's, each to its id."""
    cdef int64_t k, j, nid, place = b.spans[at // PER_TAKE]
    for k in range(at, end):
        for j in range(b.count[k]):
            nid = b.erow[k][j]
            b.out_succ[place] = <int>(nid if nid >= 0 else <int64_t>_new_at(b, -nid - 1)[4])
            place += 1
        b.out_start[k] = place


cdef void* _batch_work(void* arg) noexcept nogil:
    """One thread's share of a batch's phase: PER_TAKE states at a time, until none is
    left."""
    cdef Batch* b = <Batch*>arg
    cdef int64_t k, at, end
    cdef uint64_t* ys = NULL
    cdef uint64_t* hs = NULL
    cdef int32_t* ls = NULL
    if b.phase == EXPAND:
        ys = <uint64_t*>malloc(b.room * b.w * sizeof(uint64_t))
        hs = <uint64_t*>malloc(b.room * sizeof(uint64_t))
        ls = <int32_t*>malloc(b.room * sizeof(int32_t))
    while b.phase != EXPAND or (ys and hs and ls):     # (without scratch, none taken)
        at = core_take(&b.taken, PER_TAKE)
        if at >= b.heads:
            break
        end = min(at + PER_TAKE, b.heads)
        if b.phase == EXPAND:
            for k in range(at, end):
                _expand_cached(b, k, ys, hs, ls)
        elif b.phase == COUNT:
            _count(b, at, end)
        elif b.phase == PLACE:
            _place(b, at, end)
        else:
            _link(b, at, end)
    free(ys)
    free(hs)
    free(ls)
    return NULL


cdef struct Touch:
    # A fresh table's pages to fault in (`_touched`), TOUCH bytes at a time.
    char* p
    int64_t size, taken


DEF TOUCH = 1 << 21          # a huge page


cdef void* _touch_work(void* arg) noexcept nogil:
    """One thread's share of `_touched`: a write to each 4 KB page of each piece it takes."""
    cdef Touch* t = <Touch*>arg
    cdef int64_t at, off
    while True:
        at = core_take(&t.taken, TOUCH)
        if at >= t.size:
            return NULL
        for off in range(at, min(at + TOUCH, t.size), 4096):
            t.p[off] = 0


cdef void _touched(core_pool* pool, void* p, int64_t size) noexcept nogil:
    """The pages of a fresh mapping faulted in by the pool's threads and this one at
    once. The kernel zeroes a page at its first touch, and on these machines that was
    most of what a doubling of the visited set cost, all on the main thread
    (docs/scale.md, eleventh step)."""
    cdef Touch t
    t.p, t.size, t.taken = <char*>p, size, 0
    core_pool_run(pool, _touch_work, &t)


cdef int _regrow(void** p, size_t size) except -1:
    """realloc, or MemoryError (*p as it was)."""
    cdef void* q = realloc(p[0], size)
    if not q:
        raise MemoryError()
    p[0] = q
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
    cdef bytearray again         # per news id (Hooks.again): 1 if told at every state it is at
    cdef bytearray once          # per news id: 1 once told
    cdef uint64_t* ids           # the visited set: (hash's top 32 bits << 32) | id + 1
    cdef int64_t idcap           # by hash, 0 when free (Fingerprints: the hash itself)
    cdef uint64_t* ys            # one expansion's successors (w words each)
    cdef uint64_t* hs            # and their hashes
    cdef int32_t* ls             # and their labels
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
    cdef public int lost         # a state had a loop where symmetry fails (`_canon`)
    cdef public object bound
    cdef public int workers      # threads expanding a batch (fingerprint mode, 1: one state
                                 # at a time)
    cdef public int64_t batch_least, batch_most    # a batch's states (tests make them few)
    cdef Batch b                 # the batch the threads expand (`expand_batch`)
    cdef int64_t bcap, hcap      # its arrays' room: edges, states
    cdef int batching            # a batch's provisional states are in the visited set
    cdef list spill              # the batch's states expanded here: their edges, labels
    cdef int64_t* found_news     # per new state of the batch: its news + 3
    cdef int64_t found_cap
    cdef int64_t* tmax           # per thread: the most steps one pool entry gives it
    cdef core_pool pool          # the threads besides this one (`threads_pool`)

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
        self.again, self.once = hooks.again, bytearray()
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
        self.workers = 1
        self.batch_least, self.batch_most = 4 * PER_TAKE, BATCH
        self.spill = []
        self.bind()
        self.tmax = <int64_t*>calloc(self.threads + 1, sizeof(int64_t))
        if not self.tmax:
            raise MemoryError()

    def __dealloc__(self):
        core_pool_close(&self.pool)
        _unzeroed(self.ids, self.idcap * sizeof(uint64_t))
        free(self.ys)
        free(self.hs)
        free(self.ls)
        free(self.base)
        free(self.offsets)
        free(self.pcmasks)
        free(self.tmax)
        _batch_free(&self.b)
        free(self.found_news)
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

    cdef inline uint64_t place(self, uint64_t slot) noexcept:
        """Put `slot` (a tag and an id not in the set) in the first free slot from its
        tag's; which."""
        cdef uint64_t mask = <uint64_t>(self.idcap - 1)
        cdef uint64_t i = (slot >> 32) & mask
        while self.ids[i]:
            i = (i + 1) & mask
        self.ids[i] = slot
        return i

    cdef int rehash(self) except -1:
        """Twice the slots, each id moved by its tag (no state is read)."""
        cdef uint64_t* old = self.ids
        cdef uint64_t slot
        cdef int64_t i, cap = self.idcap
        cdef core_pool* pool
        self.ids = <uint64_t*>_zeroed(cap * 2 * sizeof(uint64_t))
        if not self.ids:
            self.ids = old
            raise MemoryError()
        if self.workers > 1 and cap * 2 * sizeof(uint64_t) >= BIG:
            pool = self.threads_pool()
            with nogil:
                _touched(pool, self.ids, cap * 2 * sizeof(uint64_t))
        self.idcap = cap * 2
        for i in range(cap):
            if old[i]:
                slot = self.place(old[i])
                if self.batching and old[i] & <uint64_t>NEWBIT:      # a provisional state's slot
                    _new_at(&self.b, <int64_t>(old[i] & <uint64_t>(NEWBIT - 1)) - 1)[2] = slot
        _unzeroed(old, cap * sizeof(uint64_t))
        self.refresh()
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
        """Tell `_fill`, in order, that the properties of set `found` are news at `sid`:
        at its first state only, unless Hooks.again asks for every one (a goal's). At
        socket N=6 round-robin three `sometimes` are news at 3.2 million states, which
        `_fill` would read through for nothing."""
        while len(self.once) <= found:
            self.once.append(0)
        if self.once[found] and not self.again[found]:
            return 0
        self.once[found] = 1
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
        cdef uint64_t pc = _pc(&self.b, t, x)
        cdef Memo* memo = &self.memos[self.base[t] + <int64_t>pc]
        cdef int64_t sid = _memo_get(memo, x, -1)
        if sid < 0:
            sid, mask = self.on_miss(t, pc, _to_int(x, self.w))
            _memo_put(memo, x, mask, sid)
            self.sparsify()
            self.refresh()
            self.tmax[t] = max(self.tmax[t], self.sizes.data[sid])
        return sid

    cdef int64_t flag(self, Memo* memo, object function, const uint64_t* x) except -2:
        cdef int64_t v = _memo_get(memo, x, -1)
        if v < 0:
            value, mask = function(_to_int(x, self.w))
            v = 1 if value else 0
            _memo_put(memo, x, mask, v)
        return v

    def symmetry(self, int64_t rbase, int64_t rbits, int channels, list loops):
        """Channel symmetry on (PackedSystem.symmetry_plan): rows of `rbits` bits from
        bit `rbase` on, one a channel, sorted in every successor; `loops` as (pc offset,
        pc bits, position offset, position bits, and as bits: the pcs inside, the pcs
        committed, the positions half way), watched for a state where symmetry fails
        (`lost`). Pcs and positions are codes, as the PackedSystem packs them."""
        cdef Symmetry* s = &self.b.sym
        if not 1 < channels <= MAXCH or rbits < 1 or rbits > 64 * MAXW or \
                len(loops) > MAXLOOPS:
            raise ValueError("the core sorts 2 to 16 channels' rows, and watches 4 loops")
        s.channels, s.rbase, s.rbits = channels, rbase, rbits
        s.rwords = <int>((rbits + 63) // 64)
        s.nloops = len(loops)
        for k, (pc_off, pc_bits, i_off, i_bits, inside, held, half) in enumerate(loops):
            s.pc_off[k], s.pc_bits[k], s.i_off[k], s.i_bits[k] = pc_off, pc_bits, i_off, i_bits
            s.inside[k], s.held[k], s.half[k] = inside, held, half
        s.lost = &self.lost
        s.on = 1

    def run(self, list initial):
        cdef uint64_t x[MAXW]
        cdef uint64_t h
        cdef int64_t nid, size, head = 0, level_end = 0, check = 1024
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
            size = self.batch_size(head, level_end)
            if (self.expand_batch(head, size, level_end) if size else
                    self.expand(head, level_end)) < 0:
                self.bound = "max"
                return
            head += max(size, 1)
            if head >= check:
                check = (head // 1024 + 1) * 1024
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
        `hs`, their labels in `ls`; `_apply`); how many."""
        cdef int64_t t, pool_id, m = 0
        cdef uint64_t sum_x = _sum(x, self.w)
        for t in range(self.threads):
            pool_id = self.steps_of(t, x)
            if m + self.sizes.data[pool_id] > self.ycap:
                self.grow_ys(m + self.sizes.data[pool_id])
            m = _apply(&self.b, pool_id, x, sum_x, m, self.ys, self.hs, self.ls)
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
            p = realloc(self.ls, cap * sizeof(int32_t))
        if not p:
            raise MemoryError()
        self.ls = <int32_t*>p
        self.ycap = cap
        return 0

    cdef int classify(self, int64_t head, const uint64_t* x, int64_t nsucc,
                      int64_t loops) except -1:
        """Record `head` as a proper end, a dead end (told in order) or a state that
        only spins."""
        return self.record(head, self.flag(&self.flags[1], self.on_proper, x), nsucc, loops)

    cdef int record(self, int64_t head, int64_t proper, int64_t nsucc,
                    int64_t loops) except -1:
        """`classify` once the end test is known."""
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

    cdef int64_t batch_size(self, int64_t head, int64_t level_end):
        """How many states from `head` (at most batch_most, all of one depth) the threads
        expand at once, or 0 for one at a time here: a small batch, or a bound on states
        the batch could reach (so the search stops where it does one state at a time, on
        the same state). One thread expands batches too, in full mode: paired runs
        measured that 1.16 times faster than one state at a time (docs/scale.md,
        eleventh step)."""
        cdef int64_t size = min(self.batch_most, level_end - head), room
        if size < self.batch_least:
            return 0
        room = self.room()
        if room >= 1 << JBITS or \
                self.n + size * room >= (self.limit if self.limit >= 0 else 0x7FFFFFFF):
            return 0
        return size

    cdef int64_t room(self):
        """The successors a state can have from the cached steps: each thread's most."""
        cdef int64_t t, room = 1
        for t in range(self.threads):
            room += self.tmax[t]
        return room

    cdef int expand_batch(self, int64_t head, int64_t size, int64_t level_end) except -2:
        """Expand states head .. head + size - 1 as `expand` does each, with `workers`
        threads; -1 when the bound on states is reached."""
        cdef int64_t done
        self.prepare(head, size, level_end)
        self.fit(size * self.b.room)
        self.run_phase(EXPAND)
        self.batching = 1
        try:
            self.left()
            done = self.settle_batch()
        except BaseException:
            self.forget_batch()
            raise
        finally:
            self.batching = 0
            del self.spill[:]
        if done < 0:
            self.forget_batch()
        return done

    cdef int run_phase(self, int phase) except -1:
        """One phase of the batch on `workers` threads, this one among them."""
        cdef Batch* b = &self.b
        cdef core_pool* pool = self.threads_pool()
        b.phase, b.taken = phase, 0
        with nogil:
            core_pool_run(pool, _batch_work, b)
        return 0

    cdef core_pool* threads_pool(self) noexcept:
        """The search's `workers` - 1 threads besides this one, made the first time."""
        core_pool_open(&self.pool, min(self.workers, WORKERS_MAX) - 1)
        return &self.pool

    cdef int64_t settle_batch(self) except -2:
        """The batch's new states given their ids, and its edges written, by the threads
        (`number` does it here where the bound on states could fall inside the batch);
        then its findings, ends and dead ends told in order; -1 at the bound."""
        cdef int64_t edges, found = self.count_runs(Py_SIZE(self.succ), &edges)
        if self.n + found > (self.limit if self.limit >= 0 else 0x7FFFFFFF - 1):
            return self.number()
        self.grow_graph(found, edges)
        self.run_phase(PLACE)
        self.run_phase(LINK)
        self.n += found
        return self.tell(self.n - found)

    cdef int64_t count_runs(self, int64_t at, int64_t* edges) except -1:
        """The count phase, and each run's count made its first new id and (its edges
        placed from `at` on) its first edge's place; the batch's new states (its edges
        in *edges)."""
        cdef Batch* b = &self.b
        cdef int64_t g, f, e, found = 0
        edges[0] = 0
        self.run_phase(COUNT)
        for g in range((b.heads + PER_TAKE - 1) // PER_TAKE):
            f, e = b.firsts[g], b.spans[g]
            b.firsts[g], b.spans[g] = self.n + found, at + edges[0]
            found, edges[0] = found + f, edges[0] + e
        return found

    cdef int64_t told(self, int64_t code, const uint64_t* x) except -2:
        """The set of news at new state x from what the threads screened (its news +
        3), judged here where a property's cache missed (UNSCREENED)."""
        return self.judge(x) if code == UNSCREENED else code - 3

    cdef int grow_graph(self, int64_t found, int64_t edges) except -1:
        """The Graph's arrays grown for `found` new states and `edges` edges, where the
        threads write them (`_place`, `_link`)."""
        cdef Batch* b = &self.b
        cdef Py_ssize_t n = self.n
        carray.resize_smart(self.states, (n + found) * self.w)
        for a in (self.parent, self.label, self.depth):
            carray.resize_smart(a, n + found)
        carray.resize_smart(self.succ, Py_SIZE(self.succ) + edges)
        carray.resize_smart(self.start, Py_SIZE(self.start) + b.heads)
        if found > self.found_cap:
            self.found_cap = max(found, 2 * self.found_cap)
            _regrow(<void**>&self.found_news, self.found_cap * sizeof(int64_t))
        b.out_states = <uint64_t*>self.states.data.as_ulonglongs
        b.out_parent, b.out_label = self.parent.data.as_ints, self.label.data.as_ints
        b.out_depth, b.out_succ = self.depth.data.as_ints, self.succ.data.as_ints
        b.out_start = self.start.data.as_longlongs + b.head0 + 1
        b.n0, b.out_news = n, self.found_news
        return 0

    cdef int tell(self, int64_t sid) except -1:
        """In the batch's order: the findings at each new state (from `sid` on), then
        each state's end or dead end (`record`)."""
        cdef Batch* b = &self.b
        cdef int64_t k, q, found
        for k in range(b.heads):
            for q in range(b.wins[k]):
                found = self.told(self.found_news[sid - b.n0], self.at(sid))
                if found >= 0:
                    self.note(sid, found)
                sid += 1
            self.back_edges += b.back[k]
            self.record(b.head0 + k, b.proper[k], b.count[k], b.loops[k])
        return 0

    cdef int prepare(self, int64_t head, int64_t size, int64_t level_end) except -1:
        """The batch's arrays for `size` states, and what the threads read (`fit` makes
        room for the new states)."""
        cdef Batch* b = &self.b
        cdef int64_t room = self.room(), need = size * room
        if need > self.bcap:
            self.bcap = max(need, 2 * self.bcap)
            _regrow(<void**>&b.edges, self.bcap * sizeof(int64_t))
            _regrow(<void**>&b.elabels, self.bcap * sizeof(int32_t))
            _regrow(<void**>&b.news, self.bcap * (NS + self.w) * sizeof(uint64_t))
            b.newscap = self.bcap
        if size > self.hcap:
            self.hcap = size
            _regrow(<void**>&b.count, self.hcap * sizeof(int64_t))
            _regrow(<void**>&b.loops, self.hcap * sizeof(int64_t))
            _regrow(<void**>&b.back, self.hcap * sizeof(int64_t))
            _regrow(<void**>&b.proper, self.hcap)
            _regrow(<void**>&b.erow, self.hcap * sizeof(int64_t*))
            _regrow(<void**>&b.lrow, self.hcap * sizeof(int32_t*))
            _regrow(<void**>&b.wins, self.hcap * sizeof(int64_t))
            _regrow(<void**>&b.firsts, (self.hcap // PER_TAKE + 1) * sizeof(int64_t))
            _regrow(<void**>&b.spans, (self.hcap // PER_TAKE + 1) * sizeof(int64_t))
        b.nnews = b.taken = 0
        memset(b.count, 0xff, size * sizeof(int64_t))
        b.head0, b.heads, b.level_end, b.room = head, size, level_end, room
        b.xs = self.at(head)
        self.refresh()
        return 0

    cdef void bind(self) noexcept:
        """What `_apply` and the threads read that stays where it is: the caches, the
        threads' places in a state."""
        cdef Batch* b = &self.b
        b.w, b.threads, b.nprops = self.w, self.threads, self.nprops
        b.memos, b.base, b.offsets, b.pcmasks = self.memos, self.base, self.offsets, self.pcmasks
        b.flags, b.verdicts, b.sets = self.flags, self.verdicts, self.sets
        b.always = <const unsigned char*><const char*>self.always
        self.refresh()

    cdef void refresh(self) noexcept:
        """What `_apply` and the threads read that moves as it grows: the visited set,
        the states, the step pool (after a miss or a rehash, and before a batch)."""
        cdef Batch* b = &self.b
        b.ids, b.idcap, b.states = self.ids, self.idcap, self.at(0)
        b.first, b.sizes, b.labels = self.first.data, self.sizes.data, self.labels.data
        b.sstart, b.sword = self.sstart.data, self.sword.data
        b.skeep, b.sput = self.skeep.data, self.sput.data

    cdef int left(self) except -1:
        """The batch's states whose caches missed, expanded here with Python's help, in
        order; their edges go to arrays kept in `spill` until the batch is done."""
        cdef Batch* b = &self.b
        cdef uint64_t x[MAXW]
        cdef int64_t k, j, m
        cdef carray.array edges, labels
        for k in range(b.heads):
            if b.count[k] >= 0:
                continue
            memcpy(x, b.xs + k * self.w, self.w * sizeof(uint64_t))
            m = 0
            if not self.flag(&self.flags[0], self.on_halted, x):
                m = self.successors(x)
            if m >= 1 << JBITS:
                raise OverflowError(f"{m} successors of one state: a pair names fewer")
            b.proper[k] = <unsigned char>self.flag(&self.flags[1], self.on_proper, x)
            self.make_room(m)
            edges, labels = array.array("q", [0]) * (m + 1), array.array("i", [0]) * (m + 1)
            self.spill += [edges, labels]
            b.erow[k] = <int64_t*>edges.data.as_longlongs
            b.lrow[k] = <int32_t*>labels.data.as_ints
            b.loops[k] = _visit_all(b, k, m, self.ys, self.hs, b.erow[k])
            for j in range(m):
                b.lrow[k][j] = self.ls[j]
            b.count[k] = m
        return 0

    cdef int make_room(self, int64_t m) except -1:
        """Room for m more provisional states, in their array and in the table they go
        to (`fit`)."""
        cdef Batch* b = &self.b
        if b.nnews + m > b.newscap:
            b.newscap = max(b.nnews + m, 2 * b.newscap)
            _regrow(<void**>&b.news, b.newscap * (NS + self.w) * sizeof(uint64_t))
        self.fit(b.nnews + m)
        self.refresh()
        return 0

    cdef int fit(self, int64_t more) except -1:
        """Room in the visited set for `more` provisional states."""
        while (self.n + more + 1) * 2 > self.idcap:
            self.rehash()
        return 0

    cdef int64_t number(self) except -2:
        """The batch in order, as `expand` goes: each new state gets its id where its
        least pair stands, and the edges, ends and findings are recorded; -1 when the
        bound on states is reached."""
        cdef Batch* b = &self.b
        cdef int64_t k, j, m, head, nid, at = Py_SIZE(self.succ), edges_in = 0
        cdef int64_t* edges
        cdef int32_t* labels
        cdef uint64_t* e
        for k in range(b.heads):
            edges_in += b.count[k]
        carray.resize_smart(self.succ, at + edges_in)
        for k in range(b.heads):
            head, m, edges, labels = b.head0 + k, b.count[k], b.erow[k], b.lrow[k]
            for j in range(m):
                nid = edges[j]
                if nid < 0:
                    e = _new_at(b, -nid - 1)
                    if e[0] == (<uint64_t>head << JBITS | <uint64_t>j):
                        nid = self.add_new(e, head, labels[j])
                        if nid < 0:
                            carray.resize(self.succ, at)
                            return -1
                    else:
                        nid = <int64_t>e[4]
                self.succ.data.as_ints[at] = <int>nid
                at += 1
            _push_q(self.start, at)
            self.back_edges += b.back[k]
            self.record(head, b.proper[k], m, b.loops[k])
        return 0

    cdef int64_t add_new(self, uint64_t* e, int64_t parent, int64_t label) except -2:
        """`add` for provisional state e: its slot in the visited set names its id."""
        cdef int64_t sid = self.n, found
        if sid == self.limit:
            return -1
        if sid == 0x7FFFFFFF:
            raise OverflowError("2^31 states: the Graph's state ids are 32-bit")
        carray.extend_buffer(self.states, <char*>(e + NS), self.w)
        self.ids[e[2]] = (e[1] >> 32) << 32 | <uint64_t>(sid + 1)
        e[4] = <uint64_t>sid
        self.n += 1
        _push_i(self.parent, <int>parent)
        _push_i(self.label, <int>label)
        _push_i(self.depth, self.depth.data.as_ints[parent] + 1)
        found = self.told(<int64_t>e[3], e + NS)
        if found >= 0:
            self.note(sid, found)
        return sid

    cdef void forget_batch(self) noexcept:
        """The visited set again from the states alone (a batch ended part way leaves
        provisional slots)."""
        cdef int64_t sid
        memset(self.ids, 0, self.idcap * sizeof(uint64_t))
        for sid in range(self.n):
            self.place((_mix(self.at(sid), self.w) >> 32) << 32 | <uint64_t>(sid + 1))

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
        """Free the caches and the threads, and let go of the hooks: the search is over."""
        core_pool_close(&self.pool)
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


cdef inline int _errno() noexcept:
    """errno, or EIO where the stream kept none."""
    return errno or 5


cdef int _files_failed(str what) except -1:
    """Raise FilesFailed with errno's number and text."""
    cdef int e = _errno()
    raise FilesFailed(e, f"{os.strerror(e)}, as they were {what}")


FP_MOST = "2^31 states reached (fingerprint mode's most: its ids are 32-bit)"
DEF CHUNK = 4096      # frontier states read back at once (with threads, a batch's most)


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
    cdef int64_t outcap              # a batch's new states the out_ arrays hold
    cdef int64_t last_found          # the last batch's new states

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
        self.chunk = <uint64_t*>malloc(max(CHUNK, BATCH) * self.w * sizeof(uint64_t))
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
        from the frontier's file while the next depth's are written to the other, each
        chunk read back a batch for the threads where it is large enough; the next id
        to expand, or -1 when the search stops (`bound` says why)."""
        cdef FILE* f = self.level[self.out]
        cdef int64_t k = 0, got, at, check = (head // 1024 + 1) * 1024
        self.out = 1 - self.out
        if fflush(f):
            _files_failed("written")
        rewind(f)
        rewind(self.level[self.out])
        while k < size:
            got = <int64_t>fread(self.chunk, sizeof(uint64_t) * self.w,
                                 min(CHUNK if self.workers < 2 else self.batch_most,
                                     BATCH, size - k), f)
            if got == 0:
                _files_failed("read back")
            k += got
            if self.batch_size(0, got):
                if self.batch_fp(head, got, depth) < 0:
                    return -1
                head += got
            else:
                for at in range(got):
                    if self.expand_fingerprints(head, self.chunk + at * self.w, depth) < 0:
                        return -1
                    head += 1
                    if head >= check:
                        check = self.checkpoint(head, depth)
                        if check < 0:
                            return -1
            if head >= check:
                check = self.checkpoint(head, depth)
                if check < 0:
                    return -1
        return head

    cdef int64_t batch_size(self, int64_t head, int64_t level_end):
        """Search.batch_size, but a batch may hold the bound on states: `tell_fp` stops
        on the state `visit` stops on. One thread expands one state at a time here: a
        batch's own table and provisional states cost it more than the overlapping cache
        misses gain (docs/scale.md, eleventh step)."""
        if self.workers < 2 or level_end - head < self.batch_least or \
                self.room() >= 1 << JBITS:
            return 0
        return level_end - head

    cdef int64_t checkpoint(self, int64_t head, int64_t depth) except -2:
        """Hooks.checkpoint once 1,024 more states are expanded: the next time to call
        it, or -1 when it says to stop."""
        stop = self.on_checkpoint(head, self.n, self.reserve(), depth)
        if stop:
            self.bound = stop
            return -1
        return (head // 1024 + 1) * 1024

    cdef int64_t batch_fp(self, int64_t head, int64_t size, int64_t depth) except -2:
        """The `size` states read back (ids head on) expanded by the threads, as
        `expand_fingerprints` expands each; -1 when a bound on states is reached."""
        cdef Batch* b = &self.b
        self.prepare(head, size, 0)
        b.xs, b.fp = self.chunk, 1
        self.fit(max(4096, 2 * self.last_found))    # what the last batch found, twice
        self.run_phase(EXPAND)
        try:
            self.left()
            return self.settle_fp(depth)
        finally:
            self.clear_newtab()
            del self.spill[:]

    cdef int fit(self, int64_t more) except -1:
        """Room in the batch's own table for `more` provisional states."""
        while (more + 1) * 2 > self.b.newcap:
            self.widen_newtab()
        return 0

    cdef int widen_newtab(self) except -1:
        """The batch's table twice as large, its provisional states put in again."""
        cdef Batch* b = &self.b
        cdef int64_t p, cap = max(1024, 2 * b.newcap)
        cdef uint64_t i, mask = <uint64_t>(cap - 1)
        cdef uint64_t* e
        cdef uint64_t* table = <uint64_t*>calloc(2 * cap, sizeof(uint64_t))
        if not table:
            raise MemoryError()
        for p in range(b.nnews if b.newtab else 0):
            e = _new_at(b, p)
            if e[0] != <uint64_t>-1:
                i = e[1] & mask
                while table[2 * i]:
                    i = (i + 1) & mask
                table[2 * i], table[2 * i + 1], e[2] = e[1], <uint64_t>(p + 1), i
        free(b.newtab)
        b.newtab, b.newcap = table, cap
        return 0

    cdef void clear_newtab(self) noexcept:
        """The batch's table empty again: its provisional states' slots cleared."""
        cdef Batch* b = &self.b
        cdef int64_t p
        cdef uint64_t* e
        if b.nnews * 8 > b.newcap:      # many slots taken: one sweep costs less than a miss each
            memset(b.newtab, 0, 2 * b.newcap * sizeof(uint64_t))
            b.fp = 0
            return
        for p in range(b.nnews):
            e = _new_at(b, p)
            if e[0] != <uint64_t>-1:
                b.newtab[2 * e[2]] = b.newtab[2 * e[2] + 1] = 0
        b.fp = 0

    cdef int64_t settle_fp(self, int64_t depth) except -2:
        """The batch's new states given their ids (to the bound on states), written to
        the files in that order and put in the visited set; then its findings and ends
        told in order (`tell_fp`); -1 at the bound."""
        cdef Batch* b = &self.b
        cdef int64_t edges, f, found = self.count_runs(0, &edges)
        cdef int64_t most = min(self.limit if self.limit >= 0 else 0x7FFFFFFF, 0x7FFFFFFF)
        self.last_found = found
        while (self.n + found) * 4 > self.idcap * 3:
            self.rehash()
        self.grow_out(found)
        self.run_phase(PLACE)
        f = min(found, most - self.n)         # the new states kept
        _write(b.out_front, sizeof(uint64_t) * self.w, f, self.level[self.out])
        _write(b.out_up, sizeof(int32_t), f, self.parents)
        _write(b.out_fp, sizeof(uint64_t), f, self.hashes)
        if f:
            self.deepest = depth + 1
        self.n += f
        return self.tell_fp(self.n - f, f)

    cdef int grow_out(self, int64_t found) except -1:
        """Room for `found` new states in the arrays `_place_one` writes for the files."""
        cdef Batch* b = &self.b
        if found > self.outcap:
            self.outcap = max(found, 2 * self.outcap)
            _regrow(<void**>&b.out_up, self.outcap * sizeof(int32_t))
            _regrow(<void**>&b.out_fp, self.outcap * sizeof(uint64_t))
            _regrow(<void**>&b.out_front, self.outcap * self.w * sizeof(uint64_t))
            _regrow(<void**>&self.found_news, self.outcap * sizeof(int64_t))
            self.found_cap = self.outcap
        b.n0, b.out_news = self.n, self.found_news
        return 0

    cdef int64_t tell_fp(self, int64_t sid, int64_t kept) except -2:
        """In the batch's order: each state's transitions, the findings at its new
        states (from `sid` on, `kept` of them), then whether it is an end or a dead
        end; -1 where the bound on states stops the search, as `visit` does."""
        cdef Batch* b = &self.b
        cdef int64_t k, q, found, last = sid + kept
        for k in range(b.heads):
            self.edges += b.count[k]
            for q in range(b.wins[k]):
                if sid == last:
                    self.bound = "max" if sid == self.limit else FP_MOST
                    return -1
                found = self.told(self.found_news[sid - b.n0],
                                  b.out_front + (sid - b.n0) * self.w)
                if found >= 0:
                    self.note(sid, found)
                sid += 1
            self.settle_end(b.head0 + k, b.xs + k * self.w, b.proper[k], b.count[k])
        return 0

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
            self.bound = FP_MOST
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
        return self.settle_end(head, x, self.flag(&self.flags[1], self.on_proper, x), nsucc)

    cdef int settle_end(self, int64_t head, const uint64_t* x, int64_t proper,
                        int64_t nsucc) except -1:
        """`classify` once the end test is known (in a batch, the threads made it)."""
        if proper:
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
                e = _errno()
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
