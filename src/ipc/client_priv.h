/* SPDX-License-Identifier: MIT */
/*
 * Internal: what other parts of the client library (lease_client.c) use of
 * a connection (client.c).
 */
#ifndef DMK_IPC_CLIENT_PRIV_H
#define DMK_IPC_CLIENT_PRIV_H

struct dmk_ipc_client;
struct dmk_ipc_msg;

/*
 * Send @m (with descriptor @fd, or -1) and wait for its answer in @ans; a
 * descriptor may come with the answer where @rfd is not NULL (-1 when none
 * did). An ERROR or a failed COMPLETION is returned as its errno, with the
 * daemon's reason in dmk_last_error(); -ECONNRESET when the daemon is gone.
 */
int dmki_ipc_client_call(struct dmk_ipc_client *c, struct dmk_ipc_msg *m, int fd,
			 struct dmk_ipc_msg *ans, int *rfd);

#endif
