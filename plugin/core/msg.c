/* Placeholder so the tree builds until the message queue implementation lands;
 * replaced whole by it.  */
#include "core.h"
int ipcns_msg_ns_init(struct ipcns_ns *ns) { (void)ns; return 0; }
void ipcns_msg_ns_free(struct ipcns_ns *ns) { (void)ns; }
int ipcns_msg_sweep(struct ipcns_ns *ns) { (void)ns; return 0; }
bool ipcns_msg_expire(struct ipcns_ns *ns, struct ipcns_waiter *w) { (void)ns; (void)w; return false; }
int ipcns_msg_foreach(struct ipcns_ns *ns, ipcns_obj_cb cb, void *arg) { (void)ns; (void)cb; (void)arg; return 0; }
int ipcns_msg_remove(struct ipcns_ns *ns, int id) { (void)ns; (void)id; return -EINVAL; }
long ipcns_msgget(struct ipcns_ns *ns, struct ipcns_caller *c, int32_t key, int msgflg) { (void)ns; (void)c; (void)key; (void)msgflg; return -ENOSYS; }
long ipcns_msgsnd(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, uint64_t msgp, uint64_t msgsz, int msgflg) { (void)ns; (void)c; (void)msqid; (void)msgp; (void)msgsz; (void)msgflg; return -ENOSYS; }
long ipcns_msgrcv(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, uint64_t msgp, uint64_t msgsz, int64_t msgtyp, int msgflg) { (void)ns; (void)c; (void)msqid; (void)msgp; (void)msgsz; (void)msgtyp; (void)msgflg; return -ENOSYS; }
long ipcns_msgctl(struct ipcns_ns *ns, struct ipcns_caller *c, int msqid, int cmd, uint64_t buf) { (void)ns; (void)c; (void)msqid; (void)cmd; (void)buf; return -ENOSYS; }
