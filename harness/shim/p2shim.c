/*
 * p2shim: an LD_PRELOAD fault for P2 (docs/real-qemu.md, The P2 shim), for the source QEMU.
 *
 * It interposes sendmsg(), which qio_channel_socket_writev() uses, and looks
 * only at the multifd send threads (named "mig/src/send_N" with
 * debug-threads=on).  A write whose first bytes are a multifd packet header
 * (magic 0x11223344, version, flags; big-endian) is classified as a SYNC
 * packet (flags bit 0) or a page packet.
 *
 *   P2_FAIL_CHANNEL  (default 1)  the channel whose SYNC packet write fails
 *   P2_FAIL_SYNC     (default 4)  fail from its N-th SYNC packet on
 *   P2_BUSY_CHANNEL  (default 0)  the channel kept busy (-1: none, a plain fault)
 *   P2_DELAY_US      (default 200000) how long each of its page writes takes
 *   P2_FAIL_DELAY_US (default 20000 when busy, else 0) a pause before the write fails
 *
 * "busy": once the failing channel has written 2 SYNC packets, each page write
 * of the busy channel is delayed; the SYNC write fails (EPIPE, nothing sent)
 * only while the busy channel is inside such a write, 20 ms after the
 * migration thread could have passed its exiting check.  This is the
 * reference's targeted setting, which hung 10/10.  Each action is logged to
 * stderr with QEMU's time stamp format.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static atomic_int busy;          /* the busy channel is inside a delayed write */
static atomic_int armed;         /* the busy channel's writes are delayed */
static atomic_int failed;        /* the fault has fired */
static atomic_int syncs;         /* SYNC packets written by the failing channel */

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v ? atoi(v) : dflt;
}

static void note(const char *fmt, const char *what, int ch, uint64_t num)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    fprintf(stderr, "p2-shim %ld@%ld.%06ld: ", (long)syscall(SYS_gettid),
            (long)tv.tv_sec, (long)tv.tv_usec);
    fprintf(stderr, fmt, what, ch, (unsigned long long)num);
    fputc('\n', stderr);
}

static int send_channel(void)
{
    char name[17] = {0};
    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (strncmp(name, "mig/src/send_", 13) != 0) {
        return -1;
    }
    return atoi(name + 13);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* 1: SYNC packet, 0: page packet, -1: not a packet header */
static int packet_kind(const struct msghdr *msg, uint64_t *num)
{
    if (!msg->msg_iovlen || msg->msg_iov[0].iov_len < 32) {
        return -1;
    }
    const unsigned char *p = msg->msg_iov[0].iov_base;
    if (be32(p) != 0x11223344) {
        return -1;
    }
    *num = (uint64_t)be32(p + 24) << 32 | be32(p + 28);
    return be32(p + 8) & 1;
}

static ssize_t busy_write(int fd, const struct msghdr *msg, int flags, int ch, uint64_t num)
{
    atomic_store(&busy, 1);
    note("%s channel %d page packet_num %llu", "delay", ch, num);
    usleep(env_int("P2_DELAY_US", 200000));
    ssize_t ret = real_sendmsg(fd, msg, flags);
    atomic_store(&busy, 0);
    return ret;
}

static ssize_t sync_write(int fd, const struct msghdr *msg, int flags, int ch, uint64_t num)
{
    int n = atomic_fetch_add(&syncs, 1) + 1;
    int busy_ch = env_int("P2_BUSY_CHANNEL", 0);
    if (n >= 2 && busy_ch >= 0) {
        atomic_store(&armed, 1);
    }
    int ready = busy_ch < 0 || atomic_load(&busy);
    if (n < env_int("P2_FAIL_SYNC", 4) || !ready || atomic_load(&failed)) {
        return real_sendmsg(fd, msg, flags);
    }
    atomic_store(&failed, 1);
    usleep(env_int("P2_FAIL_DELAY_US", busy_ch >= 0 ? 20000 : 0));
    note("%s channel %d SYNC packet_num %llu -> EPIPE", "FAIL", ch, num);
    errno = EPIPE;
    return -1;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!real_sendmsg) {
        real_sendmsg = dlsym(RTLD_NEXT, "sendmsg");
    }
    int ch = send_channel();
    uint64_t num = 0;
    int kind = ch < 0 ? -1 : packet_kind(msg, &num);
    if (kind == 1 && ch == env_int("P2_FAIL_CHANNEL", 1)) {
        return sync_write(fd, msg, flags, ch, num);
    }
    if (kind == 0 && ch == env_int("P2_BUSY_CHANNEL", 0) && atomic_load(&armed)
        && !atomic_load(&failed)) {
        return busy_write(fd, msg, flags, ch, num);
    }
    return real_sendmsg(fd, msg, flags);
}
