/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * The command line of runc and crun, as far as ipcns-runtime needs it: which
 * command, which bundle, and where the runtime's log goes.  */
#ifndef IPCNS_RUNTIME_HOOK_ARGV_H
#define IPCNS_RUNTIME_HOOK_ARGV_H

#include <stdbool.h>
#include <stddef.h>

struct ipcns_cmdline {
	/* Index of the command in argv, or -1 when there is none (`--version',
	 * `--help', no arguments).  */
	int command;
	/* `create' or `run' without --help: edit the bundle's config first.  */
	bool edit;
	/* --bundle/-b, or NULL for the current directory.  */
	const char *bundle;
	/* crun's --config/-f, or NULL for config.json in the bundle.  */
	const char *config;
	/* The global --log and --log-format, or NULL.  */
	const char *log;
	const char *log_format;
};

/* Parse ARGV (ARGC entries, ARGV[0] is the program) into *CL.  Returns 0, or
 * -EINVAL when an option lacks its value; the fields seen before the error
 * are filled in, so the error can still go to the --log file.  */
int ipcns_cmdline_parse(int argc, char *const argv[], struct ipcns_cmdline *cl, char *err,
			size_t errlen);

/* The config file the runtime will read for CL, as runc and crun resolve it:
 * BUNDLE/config.json, or crun's --config (absolute, or relative to the
 * current directory).  Returns 0 and a malloc'd path in *PATH, or -ENOMEM.  */
int ipcns_cmdline_config_path(const struct ipcns_cmdline *cl, char **path);

#endif
