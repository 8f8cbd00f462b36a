/* SPDX-License-Identifier: MIT */
/* The state image's format versions, and what is made of an older one.
 *
 * v1 kept one sem_otime per set; v2 keeps it per semaphore, as Linux does
 * (IPC_STAT reports the largest).  A v1 set is migrated by giving its time
 * to its first semaphore and 0 to the others, which reports the same
 * sem_otime now and after any later semop.  v2 also keeps the namespace's
 * budgets (quota_mem_bytes, quota_fds); a v1 image gets the defaults,
 * which the front end sets again from the operator's policy.
 *
 * v3 keeps a table of processes (REC_ACTOR: numbers in each pid
 * namespace, actor.c) and pid fields refer to it.  A pid of an older
 * image becomes a legacy entry (id 0x80000000 | the number), shown to
 * every reader as it was (image_check.c rd_pid).
 *
 * A new version: IPCNS_STATE_VERSION (include/ipcns/state.h) goes up, a
 * predicate here says which fields it adds, the writer (image_save.c) and
 * the reader (image_check.c) ask it, and what older images lack is filled
 * in here.  */
#include "image.h"

bool img_fmt_budgets(int version)
{
	return version >= 2;
}

bool img_fmt_sem_otime_each(int version)
{
	return version >= 2;
}

bool img_fmt_actors(int version)
{
	return version >= 3;
}

/* A v1 set's one sem_otime: the largest of its semaphores'.  */
int64_t img_set_otime(const struct sem_array *sma)
{
	int64_t res = sma->sems[0].otime;
	for (int i = 1; i < sma->nsems; i++)
		if (sma->sems[i].otime > res)
			res = sma->sems[i].otime;
	return res;
}

void img_migrate_limits(struct ipcns_limits *l, int version)
{
	if (img_fmt_budgets(version))
		return;
	l->quota_mem_bytes = IPCNS_DEFAULT_MEM_BYTES;
	l->quota_fds = IPCNS_DEFAULT_FDS;
}

/* The set's sem_otime becomes its first semaphore's; the largest, which
 * IPC_STAT reports, is unchanged.  */
void img_migrate_sem(struct m_sem *s, int64_t set_otime, int version)
{
	if (!img_fmt_sem_otime_each(version) && s->sems)
		s->sems[0].otime = set_otime;
}
