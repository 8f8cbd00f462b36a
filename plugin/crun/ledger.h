/* SPDX-License-Identifier: MIT */
/* The host-wide ceiling of the crun plugin's memory (ledger.c).  */
#ifndef IPCNS_CRUN_LEDGER_H
#define IPCNS_CRUN_LEDGER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LEDGER_PATH "/run/ipcns/crun-plugin.ledger"

/* The "crun-plugin" object of the operator's config file.  */
struct ledger {
	uint64_t mem_limit;  /* all plugin containers' budgets together; 0: none */
	char path[4096];     /* the file of the reservations */
	/* Ours, once reserved: this process and its start time.  */
	bool held;
	pid_t pid;
	unsigned long long start;
};

/* Read the "crun-plugin" object of the config file at cfg (none: the
 * defaults, a quarter of RAM at LEDGER_PATH): 0, or -EINVAL with a
 * message naming the file and key.  */
int ledger_conf(struct ledger *l, const char *cfg, char *err, size_t errlen);
/* Reserve `bytes' (a namespace's memory budget) for this process among
 * the reservations of the live plugin containers: 0; -ENOMEM when they
 * would pass the ceiling, -errno when the file cannot be used, both with
 * a message.  */
int ledger_reserve(struct ledger *l, uint64_t bytes, char *err, size_t errlen);
/* Give back what ledger_reserve took (nothing if it took nothing).  */
void ledger_release(struct ledger *l);

#endif
