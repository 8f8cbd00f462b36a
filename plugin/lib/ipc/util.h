/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every part of ipcns: intrusive lists, cleanup
 * attributes and ownership transfer (after crun's utils.h and bubblewrap's
 * steal_pointer).  */
#ifndef IPCNS_UTIL_H
#define IPCNS_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}
static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))

/* Take ownership: return the value and leave the old holder empty.  */
static inline void *steal_ptr(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))steal_ptr(pp))
static inline int move_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

/* Doubly linked circular list with a head node.  */
struct ipcns_list {
	struct ipcns_list *next, *prev;
};
#define IPCNS_LIST_INIT(name) { &(name), &(name) }
static inline void ipcns_list_init(struct ipcns_list *l)
{
	l->next = l->prev = l;
}
static inline int ipcns_list_empty(const struct ipcns_list *l)
{
	return l->next == l;
}
static inline void ipcns_list_add_tail(struct ipcns_list *head, struct ipcns_list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}
static inline void ipcns_list_add(struct ipcns_list *head, struct ipcns_list *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}
static inline void ipcns_list_del(struct ipcns_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
}
#define ipcns_list_entry(ptr, type, member) container_of(ptr, type, member)
#define ipcns_list_for_each_safe(pos, tmp, head)                                                   \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)
#define ipcns_list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
static inline uint32_t ipcns_list_count(const struct ipcns_list *head)
{
	uint32_t n = 0;
	for (const struct ipcns_list *pos = head->next; pos != head; pos = pos->next)
		n++;
	return n;
}

/* The one idiom for an error with a message for the operator: format
 * it into ERR and return RET, so that an error path reads
 * `return ipcns_error(err, errlen, -EINVAL, "...", ...);'.  */
__attribute__((format(printf, 4, 5))) static inline int ipcns_error(char *err, size_t errlen, int ret, const char *fmt,
								    ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

#endif
