/* SPDX-License-Identifier: MIT */
/* The state image (image_*.c) and the journal (journal.c): the record
 * format they share.  Private to the core and its unit tests.
 *
 * An image is a header and a list of records, each {u32 type, u32 len,
 * payload, padding to 8}.  Numbers are stored little-endian as the host
 * has them (x86_64 and aarch64 alike); an image is only ever read on the
 * machine that wrote it.  The journal appends records of the same kinds
 * (and a few of its own) behind an image.  */
#ifndef IPCNS_STATE_INT_H
#define IPCNS_STATE_INT_H

#include <stdarg.h>

#include "ipcns/state.h"
#include "msg.h"
#include "sem.h"
#include "shm.h"

#define IMG_MAGIC "IPCNSIMG"
#define IMG_HDR_SIZE 48

enum img_rec {
	REC_NS = 1,  /* limits, id tables' counters, objects per uid */
	REC_SHM = 2, /* a segment */
	REC_SEM = 3, /* a set, its undo adjustments and its sleepers */
	REC_MSQ = 4, /* a queue, its messages (unless MSQ_NO_MESSAGES) and its waiters */
	REC_DEL = 5, /* journal: an object removed */
	REC_MSG = 6, /* journal: a message appended to or taken from a queue */
	REC_ACTOR = 8, /* v3: an entry of the pid table (7 is the journal's answer) */
};
#define MSQ_NO_MESSAGES 1u /* journal: messages follow in REC_MSG records */
enum { MSG_OP_APPEND = 1, MSG_OP_REMOVE = 2 };

uint32_t ipcns_crc32c(uint32_t crc, const void *buf, size_t len);

/* A message for the operator into err[0, errlen), cut to fit: "KIND: ",
 * "WHAT: " when what is not NULL, then fmt (image_check.c).  */
void state_verror(char *err, size_t errlen, const char *kind, const char *what, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

/* A growing output: writes past cap are counted, not stored, so one pass
 * tells the size needed.  */
struct wbuf {
	uint8_t *p;
	size_t cap, len;
	int err; /* a callback failed: -errno */
	/* A format older than the pid table (v3): pids are written as the
	 * numbers in the acting process's own namespace, looked up here.  */
	const struct ipcns_ns *pid_ns;
};
void wb_bytes(struct wbuf *w, const void *d, size_t n);
size_t wb_rec_begin(struct wbuf *w, uint32_t type);
void wb_rec_end(struct wbuf *w, size_t at);

/* Records of the objects, as the image and the journal write them.  */
void img_put_actor(struct wbuf *w, const struct ipcns_ns *ns, uint32_t id);
/* The pid table's entries made since the last call (journal).  */
void img_put_new_actors(struct wbuf *w, struct ipcns_ns *ns);
void img_put_ns(struct wbuf *w, struct ipcns_ns *ns, int version);
void img_put_shm(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_shm *shp);
void img_put_sem(struct wbuf *w, const struct ipcns_state_ops *ops, struct sem_array *sma, int version,
		 const struct sem_ahead *a);
void img_put_msq(struct wbuf *w, const struct ipcns_state_ops *ops, struct ipcns_ns *ns, struct msgq *q,
		 uint32_t flags);
/* A whole image (header included) at w's current end.  */
void img_put_image(struct wbuf *w, struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe,
		   size_t fe_len, int version);

const struct sem_ahead *ipcns_journal_ahead_of(struct ipcns_ns *ns, struct ipcns_perm *p, bool *gone);

/* Reading: an image is parsed into a model, journal records are applied
 * to it, the model is checked as a whole, then a namespace is built.  */
struct img_model;
int img_model_parse(const void *buf, size_t len, struct img_model **out, char *err, size_t errlen);
/* Apply one journal record (type, payload) to the model.  */
int img_model_apply(struct img_model *m, uint32_t type, const void *payload, size_t len, char *err,
		    size_t errlen);
int img_model_check(struct img_model *m, char *err, size_t errlen);
int img_model_build(struct img_model *m, const struct ipcns_host_ops *host, void *host_data,
		    const struct ipcns_state_ops *ops, struct ipcns_ns **out, char *err, size_t errlen);
void img_model_free(struct img_model *m);

/* For the tests: an image of an older format (the migration test's
 * fixture is written so).  */
ssize_t ipcns_state_save_version(struct ipcns_ns *ns, const struct ipcns_state_ops *ops, const void *fe,
				 size_t fe_len, void *buf, size_t cap, size_t *need, int version);

#endif
