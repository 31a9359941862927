/* SPDX-License-Identifier: MIT */
/*
 * Internal: the driver daemon's server, shared by its files. daemon.c is
 * the poll loop, connections and their lifetime; daemon_region.c the
 * REGISTER and UNREGISTER of the four routes; daemon_memfd.c the files the
 * memfd route accepts, maps and registers; daemon_io.c the checks and
 * the moving of a READ or WRITE; daemon_ring.c the shared-memory rings;
 * daemon_device.c the ring requests on the device (the backend's
 * asynchronous path, backend_priv.h), their completions and the draining of
 * connections gone; daemon_peer.c the copy route's hold on the process
 * that registered a region; daemon_reply.c the answers, sent without waiting, and
 * each connection's queue of those its socket could not take yet;
 * daemon_admit.c who gets a slot (the per-uid share) and the HELLO
 * deadline. One thread runs all of it.
 */
#ifndef DMK_IPC_DAEMON_PRIV_H
#define DMK_IPC_DAEMON_PRIV_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <dmakit/ipc.h>
#include <dmakit/ipc_server.h>

#include "backend_priv.h"
#include "wire_priv.h"

#define PAGE 4096u

struct dmki_lease;

struct srv_region {
	uint64_t handle;
	unsigned route;
	unsigned prot;
	uint64_t len;
	void *map;		/* memfd route: the daemon's mapping */
	size_t map_len;
	struct dmk_region *reg;
	uint64_t addr;		/* copy route: the client's address */
	pid_t pid;		/* copy route: the process that registered it, */
	int pidfd;		/* its pidfd, */
	int mem_fd;		/* and its address space (daemon_peer.c) */
	unsigned busy;		/* requests on the device using it */
};

/* A ring entry the device holds (in flight): one of its connection's
 * preallocated requests (one for each ring entry). Regions are named by
 * handle: the table moves when it grows. */
struct srv_req {
	struct dmki_ipc_breq io;	/* the backend's view; first */
	struct srv_client *c;
	uint64_t tag;
	uint64_t handle;
	uint32_t idx;			/* in c->reqs */
};

/* A connection's shared-memory rings (RINGS). Only @hdr's indices, the
 * entries and the flags are shared; @sq_head and @cq_tail here are the
 * daemon's own copies, never read back from the shared memory. */
struct srv_ring {
	struct dmk_ipc_ring_hdr *hdr;	/* NULL: no rings */
	void *map;
	size_t map_len;
	struct dmk_ipc_sqe *sq;
	struct dmk_ipc_cqe *cq;
	uint32_t entries;
	uint32_t sq_head;
	uint32_t cq_tail;
	int req_efd;			/* the client rings it; polled here */
	int cq_efd;			/* rung here when the client sleeps */
	uint32_t cq_pub;		/* cq_tail as the client last saw it */
};

/* An answer its connection's socket could not take yet: encoded, with
 * duplicates of the descriptors that go with it (closed once sent). */
struct srv_out {
	uint8_t buf[DMK_IPC_MSG_MAX];
	size_t len;
	int fds[DMKI_IPC_FDS_MAX];
	unsigned nfds;
};

struct srv_client {
	int fd;
	unsigned id;
	pid_t pid;		/* at connect (SO_PEERCRED): for the log only */
	pid_t msg_pid;		/* the sender of the message being served
				 * (SCM_CREDENTIALS), 0: none came; -1 while a
				 * ring entry is served */
	uid_t uid;
	bool hello;
	uint64_t since_ns;	/* accepted; HELLO due opts.hello_timeout_ms later */
	int unheard;		/* why an answer cannot be sent (-ENOBUFS: the queue
				 * is full): close it */
	struct srv_out *outq;	/* DMK_IPC_SERVER_QUEUE of them, a ring, allocated
				 * when first needed */
	unsigned out_head;
	unsigned out_n;		/* answers waiting in @outq, oldest at @out_head */
	uint64_t max_pinned;
	unsigned max_regions;
	uint64_t pinned;
	struct srv_region *regions;
	size_t nregions;
	struct srv_ring ring;
	unsigned inflight;	/* ring entries on the device */
	bool draining;		/* closed, its regions kept until inflight is 0 */
	bool lost;		/* a request of its was given up on (-ETIMEDOUT): the
				 * device may still reach its memory some day */
	struct srv_req *reqs;	/* ring.entries of them, kept while draining */
	uint32_t *req_free;	/* indices of the free ones, a stack */
	unsigned nreq_free;
	struct dmki_lease *lease;	/* the lease route's window, or NULL */
};

struct dmk_ipc_server {
	struct dmk_ipc_backend *be;
	struct dmk_ipc_server_opts opts;
	int lfd;
	int stopfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct srv_client *clients;	/* opts.max_clients slots, fd -1 when free */
	struct pollfd *pfd;
	uint64_t next_handle;
	unsigned next_id;
	void *bounce;
	size_t bounce_len;
	struct dmk_region *bounce_reg;
	uint64_t pinned_cap;		/* opts.max_pinned_total, resolved */
	pthread_mutex_t lock;		/* stats */
	struct dmk_ipc_server_stats stats;
	/* Counted by the server's thread without the lock and added to
	 * @stats at once (dmki_srv_stats_flush()) before a client can see the
	 * requests' completions: one lock a batch, not one a request. */
	struct dmk_ipc_server_stats pend;
	bool pend_dirty;
	unsigned inflight;		/* ring entries on the device, all clients */
	int dev_fd;			/* the backend's poll_fd, or -1 */
};

#define PEND_ADD(srv, field, v)                        \
	do {                                           \
		(srv)->pend.field += (v);              \
		(srv)->pend_dirty = true;              \
	} while (0)


#define STAT_ADD(srv, field, v)                        \
	do {                                           \
		pthread_mutex_lock(&(srv)->lock);      \
		(srv)->stats.field += (v);             \
		pthread_mutex_unlock(&(srv)->lock);    \
	} while (0)

void dmki_srv_stats_flush(struct dmk_ipc_server *srv);

/* daemon.c: the log line (to opts.log_fd), refusals (the connection kept)
 * and drops (the connection closed, saying why); CLOCK_MONOTONIC in ns. */
__attribute__((format(printf, 2, 3)))
void dmki_srv_log(struct dmk_ipc_server *srv, const char *fmt, ...);
uint64_t dmki_srv_now_ns(void);
void dmki_srv_refuse(struct dmk_ipc_server *srv, struct srv_client *c, uint64_t seq, int err,
		     const char *reason);
void dmki_srv_drop(struct dmk_ipc_server *srv, struct srv_client *c, uint64_t seq, int err,
		   const char *reason);
/* A connection closed: released at once, or kept draining while the device
 * holds its requests; released: nothing of it is on the device. */
void dmki_srv_client_close(struct dmk_ipc_server *srv, struct srv_client *c, const char *why);
void dmki_srv_client_release(struct dmk_ipc_server *srv, struct srv_client *c);

/* daemon_reply.c: an answer (with @nfds descriptors, which stay the
 * caller's) sent now if the socket takes it, else queued behind the others;
 * 0 either way. When it can be neither (the queue full, the peer gone),
 * c->unheard says why and the poll loop closes the connection
 * (dmki_srv_close_unheard()). flush: queued answers sent while the socket
 * takes them (poll said POLLOUT). tell: an ERROR to a connection that has
 * no slot, without waiting. outq_free: the queue and its descriptors. */
int dmki_srv_reply(struct srv_client *c, const struct dmk_ipc_msg *m);
int dmki_srv_reply_fds(struct srv_client *c, const struct dmk_ipc_msg *m, const int *fds,
		       unsigned nfds);
int dmki_srv_reply_error(struct srv_client *c, uint64_t seq, int err, const char *reason);
void dmki_srv_flush(struct srv_client *c);
void dmki_srv_tell(int fd, int err, const char *reason);
void dmki_srv_close_unheard(struct dmk_ipc_server *srv, struct srv_client *c);
void dmki_srv_outq_free(struct srv_client *c);

/* daemon_admit.c: a free slot for a new connection from @cred, or NULL
 * when it is refused (told why, closed, logged); hello_expire: connections
 * past their HELLO deadline told and closed, then the milliseconds until
 * the next deadline (-1: none). */
struct srv_client *dmki_srv_admit(struct dmk_ipc_server *srv, int fd, const struct ucred *cred);
int dmki_srv_hello_expire(struct dmk_ipc_server *srv);

/* daemon_region.c; lease_able: the backend's device is behind a VFIO
 * container, so that the lease route can be served. */
bool dmki_srv_lease_able(const struct dmk_ipc_server *srv);
struct srv_region *dmki_srv_find_region(struct srv_client *c, uint64_t handle);
void dmki_srv_region_release(struct dmk_ipc_server *srv, struct srv_client *c,
			     struct srv_region *r);
void dmki_srv_register(struct dmk_ipc_server *srv, struct srv_client *c,
		       const struct dmk_ipc_msg *m, int fd);
void dmki_srv_unregister(struct dmk_ipc_server *srv, struct srv_client *c,
			 const struct dmk_ipc_msg *m);

/* daemon_peer.c: a copy region's process. bind: @pidfd checked to name
 * @sender, alive, and its address space opened (for writing too with
 * @write) in *@mem_fd; check: the region may be used for a message from
 * @sender (-1: a ring entry, whose sender is not known) now. Each 0 or a
 * negative errno with the reason in @why. */
int dmki_peer_bind(pid_t sender, int pidfd, bool write, int *mem_fd, char *why, size_t wl);
int dmki_peer_check(const struct srv_region *r, pid_t sender, char *why, size_t wl);
bool dmki_peer_alive(int pidfd);

/* daemon_memfd.c: the memfd route's file checked (its seals first, then
 * its size), mapped (nr->map, nr->map_len) and registered (nr->reg); or a
 * negative errno with the reason in @why, nothing kept. */
int dmki_srv_memfd_map(struct dmk_ipc_server *srv, const struct dmk_ipc_register *rq, int fd,
		       struct srv_region *nr, char *why, size_t wl);

/* daemon_io.c: a READ or WRITE checked (0, or a negative errno with the
 * reason in @why), then moved and counted. */
/* A bounce buffer of bounce_len bytes, registered: 0 or a negative errno
 * (srv->bounce NULL then: the copy route is off). */
int dmki_srv_bounce_new(struct dmk_ipc_server *srv);
int dmki_srv_io_check(struct dmk_ipc_server *srv, struct srv_client *c, bool rd,
		      const struct dmk_ipc_io *io, struct srv_region **out, char *why, size_t wl);
int dmki_srv_io_exec(struct dmk_ipc_server *srv, struct srv_client *c, const struct srv_region *r,
		     bool rd, const struct dmk_ipc_io *io);
void dmki_srv_io(struct dmk_ipc_server *srv, struct srv_client *c, const struct dmk_ipc_msg *m);

/* daemon_ring.c */
void dmki_srv_rings(struct dmk_ipc_server *srv, struct srv_client *c, const struct dmk_ipc_msg *m);
void dmki_srv_ring_free(struct srv_ring *rg);
unsigned dmki_srv_ring_serve(struct dmk_ipc_server *srv, struct srv_client *c);
bool dmki_srv_ring_arm(struct srv_ring *rg, unsigned inflight);
/* A completion into the ring (not yet seen by the client), then all of
 * them published at once, the client woken if it sleeps. */
void dmki_srv_ring_post(struct srv_ring *rg, uint64_t tag, int32_t st);
void dmki_srv_ring_publish(struct srv_ring *rg);

/* daemon_device.c: a connection's requests (@entries of them, or none);
 * a checked ring entry on the memfd, pool or lease route started on the
 * device: 1 when it is in flight, else its status (0 or a negative errno);
 * completions reaped (how many), posted, drained connections released; at
 * destroy, the device quiesced and everything reaped. */
int dmki_srv_reqs_alloc(struct srv_client *c, uint32_t entries);
void dmki_srv_reqs_free(struct srv_client *c);
int dmki_srv_device_start(struct dmk_ipc_server *srv, struct srv_client *c, struct srv_region *r,
			  bool rd, const struct dmk_ipc_io *io, uint64_t tag);
unsigned dmki_srv_device_reap(struct dmk_ipc_server *srv);
void dmki_srv_device_quiesce(struct dmk_ipc_server *srv);

#endif
