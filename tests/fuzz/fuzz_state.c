/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the state loader (plugin/lib/ipc/image_*.c) and the
 * journal's recovery (plugin/lib/ipc/journal.c): nothing in an image or a
 * journal is trusted, so any input must be refused with a message or
 * loaded into a namespace that then works, never crash, leak, or leave a
 * parked call unreleased or an fd open.
 *
 * An input starting with IPCNSIMG is an image, with IPCNSJNL a journal
 * memfd.  Checksums would stop nearly every mutation at the first check,
 * so the harness makes them right (the image's over its body, each
 * journal record's over its bytes) before loading: the fuzzer explores
 * the structure behind them.  The seeds are images and journals written
 * by tests/unit/test_state.c (STATE_WRITE_SEEDS=DIR).
 *
 * The state ops: slot N is a memfd of N * 4096 bytes (so that sizes are
 * checked against real files); a parked call's record is accepted when
 * its first byte is even, its waiter answers and is released like a fake
 * caller's.  A loaded namespace gets a few calls (a sweep, every set and
 * queue woken by an operator's removal) before it is freed.  */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ipcns/ipcns.h"
#include "ipcns/state.h"
#include "state_int.h"

#define fz_assert(cond, ...)                                                                                       \
	do {                                                                                                       \
		if (!(cond)) {                                                                                     \
			fprintf(stderr, "fuzz_state: " __VA_ARGS__);                                               \
			fputc('\n', stderr);                                                                       \
			abort();                                                                                   \
		}                                                                                                  \
	} while (0)

static int nwaiters; /* made and not yet released */

struct fw {
	struct ipcns_waiter w;
	struct ipcns_caller c;
	bool answered;
};

static bool fw_alive(struct ipcns_waiter *w)
{
	return true;
}
static int fw_deliver(struct ipcns_waiter *w, long ret)
{
	struct fw *f = (struct fw *)w;
	fz_assert(!f->answered, "a parked call answered twice");
	f->answered = true;
	return 0;
}
static void fw_release(struct ipcns_waiter *w)
{
	nwaiters--;
	free(w);
}
static const struct ipcns_waiter_ops fw_ops = { .alive = fw_alive, .deliver = fw_deliver, .release = fw_release };

static int c_cred(struct ipcns_caller *c, struct ipcns_cred *out)
{
	memset(out, 0, sizeof(*out));
	out->cap_effective = ~0ULL;
	return 0;
}
static int c_pids(struct ipcns_caller *c, pid_t *h, pid_t *n)
{
	*h = 4242;
	*n = 42;
	return 0;
}
static int c_read(struct ipcns_caller *c, uint64_t addr, void *buf, size_t len)
{
	memset(buf, 0x5a, len);
	return 0;
}
static int c_write(struct ipcns_caller *c, uint64_t addr, const void *buf, size_t len)
{
	return -EFAULT;
}
static const struct ipcns_caller_ops c_ops = { .cred = c_cred, .pids = c_pids, .read = c_read, .write = c_write };

static int op_slot_fd(void *arg, uint32_t slot)
{
	if (slot > 64)
		return -EBADF;
	int fd = memfd_create("fuzz-seg", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)slot * 4096) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}
static int op_fd_slot(void *arg, int fd)
{
	return 1;
}
static int op_waiter_save(void *arg, struct ipcns_waiter *w, void *buf, size_t cap)
{
	((uint8_t *)buf)[0] = 0;
	return 1;
}
static struct ipcns_waiter *op_waiter_load(void *arg, const void *rec, size_t len)
{
	if (len == 0 || (((const uint8_t *)rec)[0] & 1))
		return NULL;
	struct fw *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->w.ops = &fw_ops;
	f->c.ops = &c_ops;
	f->w.caller = &f->c;
	nwaiters++;
	return &f->w;
}
static const struct ipcns_state_ops ops = {
	.fd_slot = op_fd_slot,
	.slot_fd = op_slot_fd,
	.waiter_save = op_waiter_save,
	.waiter_load = op_waiter_load,
};

static int rm_cb(void *arg, const struct ipcns_obj_info *info)
{
	int *ids = arg;
	if (ids[0] < 63)
		ids[1 + ids[0]++] = (int)info->kind << 24 | (info->id & 0xffffff);
	return 0;
}

/* A loaded namespace must work: usage, a sweep, a save, every object
 * removed by the operator (its sleepers answered EIDRM).  */
static void exercise(struct ipcns_ns *ns)
{
	struct ipcns_usage u;
	ipcns_ns_usage(ns, &u);
	ipcns_ns_sweep(ns);
	size_t need = 0;
	ssize_t n = ipcns_state_save(ns, &ops, NULL, 0, NULL, 0, &need);
	fz_assert(n == -ENOSPC && need > 0, "a loaded namespace cannot be saved: %zd", n);
	void *buf = malloc(need);
	if (buf) {
		char err[256];
		fz_assert(ipcns_state_save(ns, &ops, NULL, 0, buf, need, NULL) == (ssize_t)need, "save");
		fz_assert(ipcns_state_check(buf, need, err, sizeof(err)) == IPCNS_STATE_VERSION,
			  "the image of a loaded namespace is refused: %s", err);
		free(buf);
	}
	for (int k = 0; k < 3; k++) {
		int ids[64] = { 0 };
		ipcns_ns_foreach(ns, (enum ipcns_kind)k, rm_cb, ids);
		for (int i = 0; i < ids[0]; i++) {
			ipcns_ns_remove(ns, (enum ipcns_kind)k, ids[1 + i] & 0xffffff);
		}
	}
}

/* Make the checksums right so the structure is what is fuzzed.  */
static void fix_image(uint8_t *p, size_t len)
{
	if (len < 48)
		return;
	uint64_t total = len;
	memcpy(p + 16, &total, 8);
	uint32_t crc = ipcns_crc32c(0, p + 48, len - 48);
	memcpy(p + 24, &crc, 4);
}

static void fix_journal(uint8_t *p, size_t len)
{
	uint64_t roff[2], rcap[2], state;
	if (len < 4096)
		return;
	memcpy(roff, p + 16, 16);
	memcpy(rcap, p + 32, 16);
	memcpy(&state, p + 48, 8);
	int a = (int)(state >> 63);
	uint64_t end = state & ~(1ULL << 63);
	if (roff[a] >= len || end > len - roff[a] || end < 48)
		return;
	uint8_t *r = p + roff[a];
	uint64_t total;
	memcpy(&total, r + 16, 8);
	if (total < 48 || total > end)
		return;
	uint32_t crc = ipcns_crc32c(0, r + 48, total - 48);
	memcpy(r + 24, &crc, 4);
	for (uint64_t pos = total; pos + 8 <= end;) {
		uint32_t flen;
		memcpy(&flen, r + pos + 4, 4);
		if (flen > end - pos - 8)
			break;
		crc = ipcns_crc32c(0, r + pos + 8, flen);
		memcpy(r + pos, &crc, 4);
		pos += 8 + flen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct ipcns_ns *ns = NULL;
	int ret;

	if (size < 8)
		return 0;
	uint8_t *p = malloc(size);
	if (!p)
		return 0;
	memcpy(p, data, size);
	if (memcmp(p, "IPCNSJNL", 8) == 0) {
		fix_journal(p, size);
		int fd = memfd_create("fuzz-journal", MFD_CLOEXEC);
		fz_assert(fd >= 0, "memfd");
		fz_assert(write(fd, p, size) == (ssize_t)size, "write");
		struct ipcns_journal_pending pend;
		ret = ipcns_journal_recover(fd, NULL, NULL, &ops, NULL, 0, &ns, &pend, err, sizeof(err));
		if (ret == 0) {
			fz_assert(ipcns_journal_commit(ns) == 0, "commit after recovery");
		}
		close(fd);
	} else {
		fix_image(p, size);
		int v = ipcns_state_check(p, size, err, sizeof(err));
		ret = ipcns_state_load(p, size, NULL, NULL, &ops, &ns, err, sizeof(err));
		fz_assert((v > 0) == (ret == 0) || ret == -EBADF || ret == -ENOMEM || ret == -EBADMSG,
			  "check said %d, load %d (%s)", v, ret, err);
	}
	if (ret == 0) {
		exercise(ns);
		ipcns_ns_free(ns);
	} else {
		fz_assert(ret == -EBADMSG || ret == -EPROTONOSUPPORT || ret == -EBADF || ret == -ENOMEM,
			  "unexpected error %d (%s)", ret, err);
		fz_assert(strncmp(err, "state ", 6) == 0 || ret == -ENOMEM, "no message for error %d: '%s'", ret,
			  err);
	}
	fz_assert(nwaiters == 0, "%d parked calls never released", nwaiters);
	free(p);
	return 0;
}
