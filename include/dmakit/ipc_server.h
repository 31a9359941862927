/* SPDX-License-Identifier: MIT */
/*
 * dmakit: the driver daemon's side of the IPC protocol (<dmakit/ipc.h>).
 *
 * A server owns one backend -- something that reads and writes logical
 * blocks from and into memory registered in the backend's space -- and
 * serves applications that connect to its UNIX socket:
 *
 *	dmk_ipc_backend_sim_create(512, 2048, &be);   or _nvme_create()
 *	dmk_ipc_server_create("/run/dmakitd.sock", be, NULL, &srv);
 *	dmk_ipc_server_run(srv);       until dmk_ipc_server_stop()
 *	dmk_ipc_server_destroy(srv);
 *	dmk_ipc_backend_destroy(be);
 *
 * Four routes are served. The memfd route: the daemon maps the file
 * descriptor the application sent (a memfd sealed with F_SEAL_SHRINK,
 * checked before its size is read), registers the mapping in the backend's
 * space and the device moves the bytes straight into the shared pages.
 * Where the daemon's own CPU moves bytes of a client's hugetlbfs file (the
 * sim backend's device, bounce copies) the kernel copies them, so a page
 * the client took away (a hole with the huge page pool empty) fails that
 * request with -EFAULT and never faults the daemon; a shmem memfd cannot
 * fault within its size. The
 * pool route: the daemon allocates the memory (a memfd sealed against
 * resizing), registers it and sends its descriptor to the application,
 * which maps the same pages. The copy route, only when the application
 * asks for it: the daemon moves the bytes through a bounce buffer of its
 * own and copies them from and to the application's address space, which
 * it opened (/proc/PID/mem) when the application registered the buffer and
 * proved who it is (below). The lease route, when the
 * backend's device is behind a VFIO container (NVMe; the sim backend
 * refuses it with -ENOTSUP): the daemon reserves a window of IOVAs for the
 * connection alone and sends it the container's descriptor; the
 * application maps its own memory there and says where; the daemon checks
 * every registration and every request against the window and hands the
 * device the IOVAs. When the connection closes the whole window is
 * unmapped from the container (VFIO_IOMMU_UNMAP_DMA removes mappings of
 * any process) and given back. Because the descriptor can unmap any
 * mapping of the container, whoever made it, a lease is granted only to
 * root and to clients of the daemon's own uid (-EPERM otherwise).
 *
 * One thread serves every connection. On the socket a client has one
 * request at a time, answered when the device is done. After a RINGS
 * exchange (<dmakit/ipc.h>) a client also has a submission and a
 * completion ring in shared memory with eventfd doorbells: up to
 * ring_entries requests in flight (HELLO's max_inflight) and no socket
 * message per I/O. Each ring entry is copied out once and checked as a
 * READ or WRITE message is; a bad one completes with its errno (logged,
 * counted as refused), the connection kept. Ring indices that cannot be
 * close the connection. Ring entries on the memfd, pool and lease routes
 * stay on the device while the server goes on (every backend: the NVMe
 * backend keeps them on its queue as commands, the sim backend when a test
 * holds them); copy-route entries are moved before the next is looked at.
 *
 * Isolation: a client names regions by handles the server gave that
 * connection. A handle it was not given (forged, or another client's) is
 * refused with an ERROR -EPERM, logged, and the connection is kept. A
 * message that does not decode, or a message out of place (anything before
 * HELLO, a COMPLETION or ERROR from a client), is answered with an ERROR
 * and that connection alone is closed. When a connection closes, however it
 * closes, its regions are unregistered and unmapped -- after the device
 * has completed every request of it still in flight (ring entries the
 * device holds; the log says how many it waits for, then "drained"); the
 * others are served meanwhile. A region with requests in flight cannot be
 * unregistered (-EBUSY).
 *
 * Descriptors passed on and pids reused: a connection is a capability, and
 * whoever holds it (a child that inherited it, a process it was sent to)
 * acts as the client; what it can reach is decided per route. The memfd
 * and pool routes reach only the files' pages, which the client shared
 * itself; the lease route only the window of IOVAs and the memory mapped
 * there. The copy route alone reaches a process's private memory, and it
 * never acts on a pid (which another process may have by now): a copy
 * REGISTER carries the client's pidfd, accepted only when it names the
 * live process the kernel says sent the message (SCM_CREDENTIALS), and
 * the daemon opens that process's address space then. Its regions serve
 * socket requests from that process alone (-EPERM for any other sender),
 * and any request only while it lives (-ESRCH once it has exited; nothing
 * after an execve()). Ring entries say nothing of their sender: a process
 * that shares the client's ring memory (a child it forked) can start I/O on
 * the client's copy regions, which still reach only the client's own
 * memory while it lives.
 *
 * No client delays another's answer by anything but the work its own
 * messages cost: the server never waits for a client. Answers are sent
 * without blocking; those a client's socket cannot take (it does not read
 * them) wait in that connection's queue, DMK_IPC_SERVER_QUEUE answers
 * deep, each with its descriptors, and go when the socket has room. A
 * connection whose queue is full when one more answer is due is closed
 * ("answers not taken" in the log) and its regions released as on any
 * disconnect. Ring completions are written into the shared memory and a
 * doorbell rung without waiting; a client that does not reap them only
 * stops its own submissions (every entry takes a completion slot first).
 * So a request waits at most for one socket message and one ring's worth
 * of entries of each other connection, served in turn in the same round
 * of the loop (with four clients flooding requests whose answers they
 * never read, the tests hold every answer of a fifth under 200 ms).
 *
 * Slots: a uid holds at most &dmk_ipc_server_opts.max_clients_per_uid
 * connections (default half of max_clients), so that one user cannot
 * take every slot; and connections that have not said HELLO never keep a
 * newcomer out: when its uid is at its share, or every slot is taken, the
 * oldest of them (of that uid; of anyone's when the slots are full) is
 * closed for it. Any is closed once &dmk_ipc_server_opts.hello_timeout_ms
 * (default 2 s) has passed without a HELLO. A connection refused or closed
 * so is first sent an ERROR with seq 0 saying why: -EUSERS ("64 clients
 * already"; "no HELLO yet, and a new connection needed the slot"), -EDQUOT
 * ("uid 1000 holds its share: 32 of the daemon's 64 connections") or
 * -ETIMEDOUT ("no HELLO within 2000 ms"); dmk_ipc_client_connect()
 * returns that errno and dmk_last_error() that reason.
 */
#ifndef DMAKIT_IPC_SERVER_H
#define DMAKIT_IPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_space;
struct dmk_nvme;
struct dmk_ipc_backend;
struct dmk_ipc_server;

/* DMK_IPC_SERVER_QUEUE - answers a connection's socket could not take that
 * the server keeps for it; one more closes the connection. */
#define DMK_IPC_SERVER_QUEUE 16u

/**
 * dmk_ipc_backend_sim_create() - a RAM disk behind the sim software IOMMU
 * @lba_size: bytes of a logical block, a power of two from 512 to 65536.
 * @nlba: logical blocks; @lba_size * @nlba at most 1 GiB.
 * @out: receives the backend.
 *
 * The backend makes a sim space (contiguous layout) of its own. A read
 * prepares the destination memory as a DMA command in that space and has
 * the simulated device write each segment with dmk_sim_dma_write(); a
 * write reads with dmk_sim_dma_read(). Memory not registered in the space
 * faults (-EFAULT), as it would on a real IOMMU. The disk starts zeroed.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a bad size; -ENOMEM; the errors of
 * dmk_space_sim_create().
 */
int dmk_ipc_backend_sim_create(uint32_t lba_size, uint64_t nlba, struct dmk_ipc_backend **out);

/**
 * dmk_ipc_backend_sim_disk() - the bytes of a sim backend's RAM disk
 * @be: a backend made by dmk_ipc_backend_sim_create().
 * @len: receives the disk's size in bytes.
 *
 * For tests that check what went through the daemon byte for byte.
 *
 * Thread safety: safe; the bytes change while the server serves.
 *
 * Return: the disk, or NULL when @be is not a sim backend.
 */
void *dmk_ipc_backend_sim_disk(struct dmk_ipc_backend *be, size_t *len);

/**
 * dmk_ipc_backend_sim_hold() - test hook: the device holds transfers
 * @be: a sim backend.
 * @n: how many of the next transfers of ring entries (memfd and pool
 *	routes) the device holds, in flight, until
 *	dmk_ipc_backend_sim_release(); 0 holds none.
 *
 * For tests of requests in flight: a client that dies meanwhile keeps its
 * regions registered and mapped in the daemon until the device is done.
 *
 * Thread safety: safe, also while a server runs on @be.
 *
 * Return: 0; -EINVAL when @be is not a sim backend.
 */
int dmk_ipc_backend_sim_hold(struct dmk_ipc_backend *be, unsigned n);

/**
 * dmk_ipc_backend_sim_held() - transfers the device holds now
 * @be: a sim backend.
 *
 * Thread safety: safe.
 *
 * Return: their number; 0 for another backend.
 */
unsigned dmk_ipc_backend_sim_held(struct dmk_ipc_backend *be);

/**
 * dmk_ipc_backend_sim_release() - the device finishes the held transfers
 * @be: a sim backend.
 *
 * Moves their bytes now, through the sim IOMMU (memory no longer
 * registered faults), and signals their completion to the server.
 *
 * Thread safety: safe, also while a server runs on @be.
 *
 * Return: how many were finished; -EINVAL when @be is not a sim backend.
 */
int dmk_ipc_backend_sim_release(struct dmk_ipc_backend *be);

/**
 * dmk_ipc_backend_nvme_create() - an NVMe namespace as a backend
 * @space: the space @ctrl was opened in; the server registers client
 *	memory there.
 * @ctrl: an open controller (<dmakit/nvme.h>); it stays the caller's.
 * @queue: the I/O queue the server's reads and writes go to.
 * @out: receives the backend.
 *
 * Reads and writes are the NVMe driver's on memory registered in @space:
 * the controller moves the bytes straight into and out of the client's
 * pages. The socket's requests wait for their commands
 * (dmk_nvme_read_buf(), dmk_nvme_write_buf()); ring entries are submitted
 * as commands of at most max_transfer bytes each (dmk_nvme_submit_buf())
 * and stay on @queue while the server goes on, completed by
 * dmk_nvme_reap(); when the queue is full they wait in order for free
 * slots, and an eighth of its slots stay for the socket's requests. With
 * MSI-X the server sleeps on the queue's interrupt; without it, it polls
 * the completion queue while commands are in flight. While a server runs
 * on the backend, nobody else may submit or reap asynchronous commands
 * (dmk_nvme_submit_buf(), dmk_nvme_reap()) on @queue.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for NULL arguments or a queue the controller does not
 * have; -ENOMEM.
 */
int dmk_ipc_backend_nvme_create(struct dmk_space *space, struct dmk_nvme *ctrl, unsigned queue,
				struct dmk_ipc_backend **out);

/**
 * dmk_ipc_backend_space() - the space a backend's device sees memory in
 * @be: the backend.
 *
 * Thread safety: safe.
 *
 * Return: the space.
 */
struct dmk_space *dmk_ipc_backend_space(struct dmk_ipc_backend *be);

/**
 * dmk_ipc_backend_destroy() - free a backend
 * @be: the backend, or NULL; no server may use it any more.
 *
 * A sim backend destroys its space; an NVMe backend leaves the controller
 * and its space to the caller.
 *
 * Thread safety: not with other uses of @be.
 *
 * Return: 0; -EBUSY when the sim space still holds registrations.
 */
int dmk_ipc_backend_destroy(struct dmk_ipc_backend *be);

/**
 * struct dmk_ipc_server_opts - how a server serves
 * @max_clients: connections at once, 1 to 1024; more are refused, told
 *	-EUSERS. Default 64.
 * @max_pinned: most bytes one client may have registered; a HELLO may ask
 *	for less. Default 1 GiB.
 * @max_regions: most regions one client may hold. Default 64.
 * @max_pinned_total: most bytes the daemon pins for all clients together
 *	(regions of the memfd and pool routes, which it registers in its own
 *	space; the copy route pins only the bounce buffer, and lease
 *	mappings are pinned and accounted to the client that made them).
 *	A REGISTER that would pass it is refused with -EDQUOT, whatever the
 *	client's own limit. 0 (the default) means half of the machine's
 *	physical memory, read when the server is created.
 * @bounce_size: bytes of the bounce buffer of the copy route, rounded up
 *	to whole logical blocks; 0 disables the copy route (-ENOTSUP).
 *	Default 1 MiB.
 * @socket_mode: permission bits of the socket file (who may connect).
 *	Default 0660.
 * @log_fd: where the server writes one line per refusal, connection and
 *	disconnection; -1 for nowhere. Default 2 (standard error).
 * @ring_entries: most entries of a connection's rings (RINGS), a power of
 *	two from 1 to DMK_IPC_RING_MAX; also its most requests in flight
 *	there. Default 256.
 * @ring_poll_us: how long the server keeps looking at the rings after the
 *	last ring entry before it sleeps and asks for doorbells (a core busy
 *	meanwhile, fewer wakeups); 0 to 1000000. Default 0.
 * @hello_timeout_ms: how long a new connection has to send its HELLO
 *	before it is closed, told -ETIMEDOUT; 1 to 600000, 0 taken as the
 *	default, 2000 (2 s).
 * @max_clients_per_uid: most connections of one uid at once, to
 *	@max_clients; more are refused, told -EDQUOT. 0 (the default) means
 *	half of @max_clients, rounded up: one user cannot lock the others
 *	out. A daemon that serves one user alone may set it to @max_clients.
 */
struct dmk_ipc_server_opts {
	unsigned max_clients;
	uint64_t max_pinned;
	unsigned max_regions;
	size_t bounce_size;
	unsigned socket_mode;
	int log_fd;
	unsigned ring_entries;
	unsigned ring_poll_us;
	uint64_t max_pinned_total;
	unsigned hello_timeout_ms;
	unsigned max_clients_per_uid;
};

/**
 * struct dmk_ipc_server_stats - what a server has done
 * @clients: connections open now.
 * @accepted: connections ever accepted.
 * @requests: READ and WRITE requests completed (any status).
 * @bytes: bytes moved by successful READs and WRITEs.
 * @copied: of those, bytes that went through the copy route.
 * @regions: regions registered now, all clients together.
 * @pinned: bytes the daemon pins now for all clients together (the
 *	regions counted by &dmk_ipc_server_opts.max_pinned_total).
 * @refused: requests refused with an ERROR (connection kept).
 * @forged: of those, requests naming a handle not the client's.
 * @dropped: connections closed for a malformed or misplaced message.
 * @inflight: ring entries on the device now, all clients together
 *	(those of connections gone included, until they complete).
 * @drained: connections that closed with ring entries on the device and
 *	whose memory was released only after the device completed them.
 * @turned_away: connections refused a slot (all taken, or their uid's
 *	share) or closed for sending no HELLO (in time, or before a newcomer
 *	needed the slot).
 */
struct dmk_ipc_server_stats {
	uint64_t clients;
	uint64_t accepted;
	uint64_t requests;
	uint64_t bytes;
	uint64_t copied;
	uint64_t regions;
	uint64_t pinned;
	uint64_t refused;
	uint64_t forged;
	uint64_t dropped;
	uint64_t inflight;
	uint64_t drained;
	uint64_t turned_away;
};

/**
 * dmk_ipc_server_opts_init() - fill options with the defaults
 * @opts: the options.
 *
 * Thread safety: safe.
 */
void dmk_ipc_server_opts_init(struct dmk_ipc_server_opts *opts);

/**
 * dmk_ipc_server_create() - listen on a UNIX socket for one backend
 * @path: the socket's file; an existing socket file there is replaced.
 * @be: the backend; it must outlive the server.
 * @opts: options, or NULL for the defaults.
 * @out: receives the server.
 *
 * Binds a SOCK_SEQPACKET socket at @path, sets its mode and listens. The
 * copy route's bounce buffer is allocated and registered in the backend's
 * space here.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a bad option or a path longer than a socket
 * address holds; -EEXIST when @path exists and is not a socket; -ENOMEM;
 * another negative errno of socket(), bind() or listen(); the errors of
 * dmk_region_register().
 */
int dmk_ipc_server_create(const char *path, struct dmk_ipc_backend *be,
			  const struct dmk_ipc_server_opts *opts, struct dmk_ipc_server **out);

/**
 * dmk_ipc_server_run() - serve until stopped
 * @srv: the server.
 *
 * Accepts connections and serves their messages, one at a time, until
 * dmk_ipc_server_stop(). Failing clients never end it, and no client is
 * waited for (see the top of this header for the bound on what one
 * client's behaviour costs another).
 *
 * Thread safety: one thread runs a server at a time.
 *
 * Return: 0 once stopped; a negative errno of poll() or accept() that is
 * not about one client (then the server can be run again).
 */
int dmk_ipc_server_run(struct dmk_ipc_server *srv);

/**
 * dmk_ipc_server_stop() - make dmk_ipc_server_run() return
 * @srv: the server.
 *
 * Thread safety: safe from any thread and from a signal handler.
 *
 * Return: 0.
 */
int dmk_ipc_server_stop(struct dmk_ipc_server *srv);

/**
 * dmk_ipc_server_stats() - read a server's counters
 * @srv: the server.
 * @stats: receives them.
 *
 * Thread safety: safe, also while another thread runs the server.
 *
 * Return: 0.
 */
int dmk_ipc_server_stats(struct dmk_ipc_server *srv, struct dmk_ipc_server_stats *stats);

/**
 * dmk_ipc_server_routes() - the routes a server serves now
 * @srv: the server.
 *
 * The memfd and pool routes are always served; the copy route while the
 * server has a bounce buffer (&dmk_ipc_server_opts.bounce_size not 0, and
 * no transfer through it given up on without a new one to replace it);
 * the lease route when the backend's device is behind a VFIO container.
 * Every connection may also ask for rings (&dmk_ipc_server_opts.ring_entries).
 *
 * Thread safety: safe, but not while another thread runs the server (the
 * copy route may be turned off meanwhile).
 *
 * Return: a mask with bit (1u << route) set for each &enum dmk_ipc_route
 * served.
 */
unsigned dmk_ipc_server_routes(const struct dmk_ipc_server *srv);

/**
 * dmk_ipc_server_destroy() - close every connection and free a server
 * @srv: the server, or NULL; not running.
 *
 * Waits for the requests still on the device (each at most the device's
 * timeout; held sim transfers are released), then unregisters and unmaps
 * every client's regions, removes the socket file.
 *
 * Thread safety: not with other uses of @srv.
 *
 * Return: 0.
 */
int dmk_ipc_server_destroy(struct dmk_ipc_server *srv);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_IPC_SERVER_H */
