/* SPDX-License-Identifier: MIT */
/* ipcns - System V IPC namespaces served from user space.
 *
 * The command line of runc and crun.  runc parses with Go's flag package
 * (urfave/cli): `--name value', `--name=value', and the same with one dash.
 * crun parses with argp (getopt_long): `--name value', `--name=value', a
 * unique prefix of a long name, and clustered short options (`-db DIR',
 * `-bDIR').  Both put global options before the command.  Accepting the union
 * is safe: a form one runtime rejects fails there, after our edit.  */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "argv.h"
#include "oci_util.h"

enum opt_id {
	OPT_OTHER,
	OPT_HELP, /* help or version: the runtime prints and exits */
	OPT_LOG,
	OPT_LOG_FORMAT,
	OPT_BUNDLE,
	OPT_CONFIG,
};

struct opt {
	const char *name;
	bool has_value;
	enum opt_id id;
};

/* runc 1.1 and crun 1.8 global options.  */
static const struct opt global_opts[] = {
	{"root", true, OPT_OTHER},
	{"log", true, OPT_LOG},
	{"log-format", true, OPT_LOG_FORMAT},
	{"criu", true, OPT_OTHER},
	{"rootless", true, OPT_OTHER},
	{"cgroup-manager", true, OPT_OTHER},
	{"debug", false, OPT_OTHER},
	{"systemd-cgroup", false, OPT_OTHER},
	{"help", false, OPT_HELP},
	{"h", false, OPT_HELP},
	{"?", false, OPT_HELP},
	{"usage", false, OPT_HELP},
	{"version", false, OPT_HELP},
	{"v", false, OPT_HELP},
	{"V", false, OPT_HELP},
	{NULL, false, OPT_OTHER},
};

/* Options of `create' and `run' in runc 1.1 and crun 1.8.  */
static const struct opt create_opts[] = {
	{"bundle", true, OPT_BUNDLE},
	{"b", true, OPT_BUNDLE},
	{"config", true, OPT_CONFIG},
	{"f", true, OPT_CONFIG},
	{"console-socket", true, OPT_OTHER},
	{"pid-file", true, OPT_OTHER},
	{"preserve-fds", true, OPT_OTHER},
	{"detach", false, OPT_OTHER},
	{"d", false, OPT_OTHER},
	{"keep", false, OPT_OTHER},
	{"no-pivot", false, OPT_OTHER},
	{"no-new-keyring", false, OPT_OTHER},
	{"no-subreaper", false, OPT_OTHER},
	{"help", false, OPT_HELP},
	{"h", false, OPT_HELP},
	{"?", false, OPT_HELP},
	{"usage", false, OPT_HELP},
	{NULL, false, OPT_OTHER},
};

/* The option named by NAME (LEN bytes), exactly or, after two dashes, as a
 * unique prefix of a long name (argp).  */
static const struct opt *find_opt(const struct opt *table, const char *name, size_t len,
				  bool allow_prefix)
{
	const struct opt *o, *found = NULL;

	for (o = table; o->name != NULL; o++)
		if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
			return o;
	if (!allow_prefix || len == 0)
		return NULL;
	for (o = table; o->name != NULL; o++) {
		if (strlen(o->name) < 2 || strncmp(o->name, name, len) != 0)
			continue;
		if (found != NULL && found->id != o->id)
			return NULL;
		found = o;
	}
	return found;
}

struct parsed_opt {
	const struct opt *opt; /* NULL: an option we do not know */
	const char *value;     /* NULL unless opt->has_value */
	int next;	       /* index of the next argument */
};

/* Parse the option at ARGV[I], which starts with '-' and is not "-" or
 * "--".  */
static int parse_opt(const struct opt *table, int argc, char *const argv[], int i,
		     struct parsed_opt *p, char *err, size_t errlen)
{
	const char *arg = argv[i];
	const char *name, *eq;
	size_t len;
	bool two_dashes = arg[1] == '-';

	p->opt = NULL;
	p->value = NULL;
	p->next = i + 1;

	name = arg + (two_dashes ? 2 : 1);
	eq = strchr(name, '=');
	len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	p->opt = find_opt(table, name, len, two_dashes);

	/* One dash and no known name: argp's cluster of short options, where
	 * the first one that takes a value takes the rest of the word or the
	 * next argument.  */
	if (p->opt == NULL && !two_dashes && eq == NULL) {
		const char *c;

		for (c = name; *c != '\0'; c++) {
			const struct opt *o = find_opt(table, c, 1, false);

			if (o == NULL || !o->has_value) {
				if (o != NULL && o->id == OPT_HELP)
					p->opt = o;
				continue;
			}
			p->opt = o;
			if (c[1] != '\0') {
				p->value = c + 1;
				return 0;
			}
			break;
		}
	}

	if (p->opt == NULL || !p->opt->has_value)
		return 0;
	if (eq != NULL) {
		p->value = eq + 1;
		return 0;
	}
	if (i + 1 >= argc)
		return ipcns_error(err, errlen, -EINVAL, "option %s needs a value", arg);
	p->value = argv[i + 1];
	p->next = i + 2;
	return 0;
}

static bool is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0';
}

int ipcns_cmdline_parse(int argc, char *const argv[], struct ipcns_cmdline *cl, char *err,
			size_t errlen)
{
	struct parsed_opt p;
	bool help = false;
	int i, ret;

	memset(cl, 0, sizeof(*cl));
	cl->command = -1;

	for (i = 1; i < argc && is_option(argv[i]); i = p.next) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		ret = parse_opt(global_opts, argc, argv, i, &p, err, errlen);
		if (ret < 0)
			return ret;
		if (p.opt == NULL)
			continue;
		if (p.opt->id == OPT_HELP)
			help = true;
		else if (p.opt->id == OPT_LOG)
			cl->log = p.value;
		else if (p.opt->id == OPT_LOG_FORMAT)
			cl->log_format = p.value;
	}
	if (i >= argc || help)
		return 0;
	cl->command = i;
	if (strcmp(argv[i], "create") != 0 && strcmp(argv[i], "run") != 0)
		return 0;

	/* argp (crun) takes options after the container id as well; Go's flag
	 * package (runc) stops at the id, and runc then refuses the extra
	 * arguments, so scanning them all is right for both.  */
	for (i++; i < argc; i = p.next) {
		p.next = i + 1;
		if (strcmp(argv[i], "--") == 0)
			break;
		if (!is_option(argv[i]))
			continue;
		ret = parse_opt(create_opts, argc, argv, i, &p, err, errlen);
		if (ret < 0)
			return ret;
		if (p.opt == NULL)
			continue;
		if (p.opt->id == OPT_HELP)
			help = true;
		else if (p.opt->id == OPT_BUNDLE)
			cl->bundle = p.value[0] != '\0' ? p.value : NULL;
		else if (p.opt->id == OPT_CONFIG)
			cl->config = p.value;
	}
	cl->edit = !help;
	return 0;
}

int ipcns_cmdline_config_path(const struct ipcns_cmdline *cl, char **path)
{
	const char *bundle = cl->bundle != NULL ? cl->bundle : ".";
	int ret;

	/* crun 1.8 resolves a --config other than "config.json" against the
	 * current directory before it changes into the bundle.  */
	if (cl->config != NULL && strcmp(cl->config, "config.json") != 0)
		ret = asprintf(path, "%s", cl->config);
	else if (cl->bundle == NULL)
		ret = asprintf(path, "config.json");
	else
		ret = asprintf(path, "%s/config.json", bundle);
	if (ret < 0) {
		*path = NULL;
		return -ENOMEM;
	}
	return 0;
}
