/* SPDX-License-Identifier: MIT */
/* crun's seccomp-notify plugin ABI, written from crun 1.8.1
 * (src/libcrun/seccomp_notify_plugin.h and seccomp_notify.c, unchanged in
 * that respect since crun 0.14): crun dlopen()s every path listed in the
 * annotation run.oci.seccomp.plugins (':'-separated) and looks up the
 * symbols below by name.  Our own definitions, so that the plugin builds
 * without crun's headers; the layout must stay crun's.  */
#ifndef IPCNS_CRUN_PLUGIN_H
#define IPCNS_CRUN_PLUGIN_H

#include <linux/seccomp.h>
#include <stddef.h>

/* What `crun run' passes to start (struct
 * libcrun_load_seccomp_notify_conf_s), with sizeof as size_configuration.
 * crun 1.8.1 fills it in wait_for_process():
 *   runtime_root_path  crun's state directory of the container (--root/ID)
 *   name               the container id
 *   bundle_path        the bundle directory
 *   oci_config_path    runtime_root_path/config.json, crun's copy of the
 *                      bundle's config.json, annotations included  */
struct ipcns_crun_conf {
	const char *runtime_root_path;
	const char *name;
	const char *bundle_path;
	const char *oci_config_path;
};

/* The `handled' out-parameter of handle_request.  */
enum {
	/* Not ours: crun tries the next plugin, then answers ENOTSUP.  */
	IPCNS_CRUN_NOT_HANDLED = 0,
	/* crun sends the filled response (id set by crun).  */
	IPCNS_CRUN_SEND_RESPONSE = 1,
	/* The plugin answers through the seccomp fd itself, now or later;
	 * crun sends nothing.  */
	IPCNS_CRUN_DELAYED_RESPONSE = 2,
	/* crun sends the response with SECCOMP_USER_NOTIF_FLAG_CONTINUE.  */
	IPCNS_CRUN_SEND_RESPONSE_AND_CONTINUE = 3,
};

/* The version crun accepts from run_oci_seccomp_notify_version().  */
#define IPCNS_CRUN_PLUGIN_VERSION 1

/* The exported entry points.  A non-zero return from any of them is an
 * error crun reports; from handle_request it ends `crun run' (and with it
 * the container), so only a broken plugin state may return one.  */
int run_oci_seccomp_notify_version(void);
int run_oci_seccomp_notify_start(void **opaque, struct ipcns_crun_conf *conf, size_t size_configuration);
int run_oci_seccomp_notify_handle_request(void *opaque, struct seccomp_notif_sizes *sizes,
					  struct seccomp_notif *sreq, struct seccomp_notif_resp *sresp,
					  int seccomp_fd, int *handled);
int run_oci_seccomp_notify_stop(void *opaque);

#endif
