/* SPDX-License-Identifier: MIT */
/*
 * The fuzz_ring target's server and connections: see ring_conn.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/ipc_client.h>
#include <dmakit/ipc_server.h>
#include <dmakit/region.h>

#include "ipc/daemon_priv.h"
#include "ring_conn.h"

#define FILE_LEN 12288u		/* the memfd: both memfd regions, guards */
#define MEMFD_OFF 4096u		/* R_MEMFD's first byte in it */
#define POOL_MAP 4096u
#define COPY_LEN 8192u		/* R_COPY's buffer, guards around it */
#define COPY_OFF 1024u
#define OTHER_LEN 1024u

const struct conn_reg conn_regs[NREG] = {
	[R_MEMFD] = { DMK_IPC_ROUTE_MEMFD, DMK_PROT_RW, 5000 },		/* not whole blocks */
	[R_MEMFD_RO] = { DMK_IPC_ROUTE_MEMFD, DMK_PROT_READ, 4096 },	/* the device reads it only */
	[R_POOL] = { DMK_IPC_ROUTE_POOL, DMK_PROT_RW, 3000 },
	[R_COPY] = { DMK_IPC_ROUTE_COPY, DMK_PROT_RW, 2600 },
};

/* The guard bytes: byte i of the memfd is guard[i], of the copy-route
 * buffer guard[i + 1], of the other connection's region guard[i]. */
static uint8_t guard[FILE_LEN + 1];
static const uint8_t zeros[POOL_MAP];

/* Bytes @from to @to of @p are @want's, or the target stops naming the first that is not. */
static void check_bytes(const uint8_t *p, const uint8_t *want, size_t from, size_t to, const char *what)
{
	if (memcmp(p + from, want + from, to - from) == 0)
		return;
	while (p[from] == want[from])
		from++;
	FUZZ_CHECK(0, "%s: byte %zu changed", what, from);
}

static void *loop_main(void *arg)
{
	struct fuzz_server *s = arg;

	return (void *)(intptr_t)dmk_ipc_server_run(s->srv);
}

static void loop_start(struct fuzz_server *s)
{
	FUZZ_CHECK(pthread_create(&s->loop, NULL, loop_main, s) == 0, "pthread_create");
}

static void loop_stop(struct fuzz_server *s)
{
	void *ret;

	dmk_ipc_server_stop(s->srv);
	pthread_join(s->loop, &ret);
	FUZZ_CHECK(ret == NULL, "the server's loop returned %d: %s", (int)(intptr_t)ret,
		   dmk_last_error());
}

static struct fuzz_server *at_exit;

static void server_end(void)
{
	struct fuzz_server *s = at_exit;

	dmk_ipc_client_close(s->other);
	dmk_ipc_server_destroy(s->srv);
	munmap(s->other_buf, OTHER_LEN);
	close(s->other_fd);
	dmk_ipc_backend_destroy(s->be);
	rmdir(s->dir);
}

void fuzz_server_start(struct fuzz_server *s)
{
	struct dmk_ipc_server_opts o;
	unsigned route;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(guard); i++)
		guard[i] = (uint8_t)(i * 7u + 3u);
	snprintf(s->dir, sizeof(s->dir), "/tmp/dmk-fuzz-ring-XXXXXX");
	FUZZ_CHECK(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	FUZZ_CHECK(dmk_ipc_backend_sim_create(FUZZ_LBA, FUZZ_NLBA, &s->be) == 0, "sim backend: %s",
		   dmk_last_error());
	dmk_ipc_server_opts_init(&o);
	o.ring_entries = RING_MAX;
	o.bounce_size = 1024;	/* the copy route in pieces */
	o.log_fd = -1;
	FUZZ_CHECK(dmk_ipc_server_create(s->path, s->be, &o, &s->srv) == 0, "server: %s",
		   dmk_last_error());
	loop_start(s);
	FUZZ_CHECK(dmk_ipc_client_connect(s->path, NULL, &s->other) == 0 &&
		   dmk_ipc_memfd_alloc(OTHER_LEN, (void **)&s->other_buf, &s->other_fd) == 0 &&
		   dmk_ipc_client_register_memfd(s->other, s->other_fd, 0, OTHER_LEN, DMK_PROT_RW,
						 &s->other_handle, &route) == 0,
		   "the well-behaved connection: %s", dmk_last_error());
	loop_stop(s);
	memcpy(s->other_buf, guard, OTHER_LEN);
	at_exit = s;
	atexit(server_end);
}

void fuzz_server_check_other(const struct fuzz_server *s)
{
	check_bytes(s->other_buf, guard, 0, OTHER_LEN, "another connection's region");
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	FUZZ_CHECK(fd >= 0, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
	return fd;
}

/* @m (with descriptor @fd, or -1) on the socket; its answer, of @type,
 * into @m (a descriptor with it into *@rfd where @rfd is not NULL). */
static void call(int sock, struct dmk_ipc_msg *m, int fd, int *rfd, unsigned type)
{
	static uint64_t seq;
	unsigned sent = m->type;

	m->seq = ++seq;
	FUZZ_CHECK(dmk_ipc_send(sock, m, fd) == 0, "sending %s: %s", dmk_ipc_type_name(sent),
		   dmk_last_error());
	FUZZ_CHECK(dmk_ipc_recv(sock, m, rfd) == 0, "the answer to %s: %s", dmk_ipc_type_name(sent),
		   dmk_last_error());
	FUZZ_CHECK(m->type == type, "%s answered with %s (%s)", dmk_ipc_type_name(sent),
		   dmk_ipc_type_name(m->type), m->type == DMK_IPC_ERROR ? m->error.reason : "");
}

static void conn_rings(struct conn *c)
{
	struct dmk_ipc_msg m;
	int fds[3];
	unsigned nfd = 0;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_RINGS;
	m.seq = 1;
	m.rings.entries = c->entries;
	FUZZ_CHECK(dmk_ipc_send(c->sock, &m, -1) == 0, "sending RINGS: %s", dmk_last_error());
	FUZZ_CHECK(dmk_ipc_recv_fds(c->sock, &m, fds, 3, &nfd) == 0 && m.type == DMK_IPC_RINGS &&
		   nfd == 3 && m.rings.entries == c->entries &&
		   m.rings.size == dmk_ipc_ring_size(c->entries),
		   "RINGS of %u: %s", c->entries, m.type == DMK_IPC_ERROR ? m.error.reason : "");
	c->rlen = (size_t)m.rings.size;
	c->rmap = mmap(NULL, c->rlen, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	FUZZ_CHECK(c->rmap != MAP_FAILED, "mapping the rings: %s", strerror(errno));
	close(fds[0]);
	c->req_efd = fds[1];
	c->cq_efd = fds[2];
	c->hdr = c->rmap;
	c->sq = (struct dmk_ipc_sqe *)((uint8_t *)c->rmap + DMK_IPC_RING_SQ_OFF);
	c->cq = (struct dmk_ipc_cqe *)((uint8_t *)c->rmap + dmk_ipc_ring_cq_off(c->entries));
}

static void conn_register(struct conn *c, int r)
{
	struct dmk_ipc_msg m;
	int fd = -1, pfd = -1;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.reg.route = conn_regs[r].route;
	m.reg.prot = conn_regs[r].prot;
	m.reg.length = conn_regs[r].len;
	if (r == R_MEMFD || r == R_MEMFD_RO) {
		m.reg.offset = r == R_MEMFD ? MEMFD_OFF : 0;
		fd = c->mfd;
	} else if (r == R_COPY) {
		/* the copy route's proof of who registers: a pidfd of this process */
		m.reg.addr = (uint64_t)(uintptr_t)(c->copy + COPY_OFF);
		fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
		FUZZ_CHECK(fd >= 0, "pidfd_open: %s", strerror(errno));
	}
	call(c->sock, &m, fd, r == R_POOL ? &pfd : NULL, DMK_IPC_COMPLETION);
	if (r == R_COPY)
		close(fd);
	FUZZ_CHECK(m.comp.status == 0 && m.comp.route == conn_regs[r].route, "REGISTER %d: status %d",
		   r, m.comp.status);
	c->handle[r] = m.comp.handle;
	if (r == R_POOL) {
		FUZZ_CHECK(pfd >= 0, "the pool's descriptor");
		c->pool = mmap(NULL, POOL_MAP, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
		FUZZ_CHECK(c->pool != MAP_FAILED, "mapping the pool: %s", strerror(errno));
		close(pfd);
	}
}

void conn_open(struct fuzz_server *s, struct conn *c, unsigned entries)
{
	struct dmk_ipc_msg m;

	memset(c, 0, sizeof(*c));
	c->entries = entries;
	c->mfd = memfd_create("fuzz-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	FUZZ_CHECK(c->mfd >= 0 && ftruncate(c->mfd, FILE_LEN) == 0 &&
		   fcntl(c->mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "memfd: %s",
		   strerror(errno));
	c->file = mmap(NULL, FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, c->mfd, 0);
	FUZZ_CHECK(c->file != MAP_FAILED, "mapping the memfd: %s", strerror(errno));
	c->copy = malloc(COPY_LEN);
	FUZZ_CHECK(c->copy, "out of memory");
	memcpy(c->file, guard, FILE_LEN);
	memcpy(c->copy, guard + 1, COPY_LEN);

	loop_start(s);
	c->sock = raw_connect(s->path);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_HELLO;
	m.hello.version = DMK_IPC_VERSION;
	call(c->sock, &m, -1, NULL, DMK_IPC_HELLO);
	conn_rings(c);
	for (int r = 0; r < NREG; r++)
		conn_register(c, r);
	loop_stop(s);

	for (unsigned i = 0; i < s->srv->opts.max_clients; i++)
		if (s->srv->clients[i].fd >= 0 && dmki_srv_find_region(&s->srv->clients[i], c->handle[0]))
			c->sc = &s->srv->clients[i];
	FUZZ_CHECK(c->sc && c->sc->ring.entries == entries, "the daemon's side of the connection");
	/* The daemon's answers, from now on, come while it runs on this
	 * thread: there or not, never to be waited for. */
	FUZZ_CHECK(fcntl(c->sock, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK: %s", strerror(errno));
	c->up = true;
}

void conn_close(struct conn *c)
{
	munmap(c->rmap, c->rlen);
	close(c->req_efd);
	close(c->cq_efd);
	close(c->sock);
	munmap(c->file, FILE_LEN);
	close(c->mfd);
	munmap(c->pool, POOL_MAP);
	free(c->copy);
	memset(c, 0, sizeof(*c));
}

void conn_reset(struct conn *c)
{
	uint64_t v;

	c->tail = c->head;
	c->cq_head = c->cq_tail;
	memset(c->sq, 0, c->entries * sizeof(*c->sq));
	memset(c->cq, 0, c->entries * sizeof(*c->cq));
	memset(c->slot, 0, sizeof(c->slot));
	__atomic_store_n(&c->hdr->sq_tail, c->tail, __ATOMIC_RELEASE);
	__atomic_store_n(&c->hdr->cq_head, c->cq_head, __ATOMIC_RELEASE);
	__atomic_store_n(&c->hdr->sq_head, c->head, __ATOMIC_RELAXED);
	__atomic_store_n(&c->hdr->cq_tail, c->cq_tail, __ATOMIC_RELAXED);
	__atomic_store_n(&c->hdr->sq_flags, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->hdr->cq_flags, 0, __ATOMIC_RELAXED);
	while (read(c->cq_efd, &v, sizeof(v)) > 0)
		;
}

void conn_check_guards(const struct conn *c)
{
	size_t end = MEMFD_OFF + conn_regs[R_MEMFD].len;

	check_bytes(c->file, guard, 0, MEMFD_OFF, "the memfd region the device may only read");
	check_bytes(c->file, guard, end, FILE_LEN, "the memfd past its region");
	check_bytes(c->pool, zeros, conn_regs[R_POOL].len, POOL_MAP, "the pool past its region");
	check_bytes(c->copy, guard + 1, 0, COPY_OFF, "the copy route's buffer before its region");
	check_bytes(c->copy, guard + 1, COPY_OFF + conn_regs[R_COPY].len, COPY_LEN,
		    "the copy route's buffer past its region");
}

int conn_region(const struct conn *c, uint64_t handle)
{
	for (int r = 0; r < NREG; r++)
		if (c->handle[r] == handle)
			return r;
	return -1;
}
