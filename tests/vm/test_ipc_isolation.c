/* SPDX-License-Identifier: MIT */
/*
 * Guest test (testbed/run): applications of the driver daemon cannot see or
 * touch each other's data, and hostile messages are refused, on the real
 * test bed (the daemon's server on the NVMe driver, QEMU's nvme behind the
 * emulated VT-d IOMMU through VFIO; the server on a thread of this process,
 * every application a forked process).
 *
 * Two applications at once (test_isolation): A as root (a memfd region and
 * a copy-route region), B as uid 65534 (a pool region and a copy-route
 * region), started together and kept in step by a barrier on pipes at
 * every round, so that their requests interleave on the daemon. Each
 * writes and reads its own blocks through both regions, round after round,
 * and checks every byte of both buffers each round. The other's handles
 * come over a pipe: each application tries them for READ, WRITE and
 * UNREGISTER in the middle of the run (while the other does I/O on them)
 * and again once both are quiet; every try must be refused with -EPERM,
 * and afterwards each checks that its buffers are unchanged (the other's
 * refused READ would have filled them with the other's data), that its
 * blocks on the disk are unchanged (the other's refused WRITE would have
 * put the victim's bytes there) and that its handles still work (the
 * other's refused UNREGISTER). A third application reads both sets of
 * blocks after both left; DMKCHECK lines have the host check them too.
 *
 * Hostile messages (test_hostile): a client of its own (uid 65534) speaks
 * the protocol raw on a SOCK_SEQPACKET socket, with the public encoder and
 * bytes patched by hand. A datagram shorter than a header, a body cut
 * short, header lengths that say more or less than the datagram, an
 * unknown type, a wrong protocol version (header; HELLO body), a wrong
 * magic, reserved header flags, a datagram longer than any message, handle
 * 0, a request before HELLO and a COMPLETION from a client are each
 * answered with an ERROR of the documented errno and close that connection
 * only. On a connection of its own with a memfd region: a READ at an
 * offset past the region or running past its end, lengths not whole
 * blocks, LBAs past the device (and wrapping), a made-up handle and a
 * well-behaved client's real one are each refused with the documented
 * errno and the connection is kept (it then writes and reads its own
 * blocks). Meanwhile a well-behaved application (uid 65534, memfd route)
 * stays connected and does one write-read round after every hostile
 * message, checking its data byte for byte. The daemon's counters must
 * agree: every dropped connection, every refusal, every forged handle.
 * IOVAs outside a lease are test_ipc_lease's (ipc-lease-outside-window).
 *
 * Blocks: from nlba/2 + nlba/32 (LBA 69632 of the test bed's 131072), 4 MiB
 * in all, 1 MiB each for A, B, the well-behaved client and the raw client:
 * above test_nvme's and below test_ipc_lease's (5/8) and test_ipc_nvme's
 * (3/4); nvme_read and ipc_read write the last MiBs.
 *
 * Environment: DMK_NVME_BDF (required). Prints one "PASS name" or
 * "FAIL name: why" line per check (the raw client prints its own); exits 1
 * when any failed, 2 when the set-up failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>
#include <dmakit/ipc_server.h>
#include <dmakit/region.h>

#include "vmcheck.h"
#include "vmipc.h"
#include "vmpattern.h"

#define KiB 1024u
#define SLOT (64 * KiB)		/* what one round writes and reads */
#define NSLOT 4			/* slots of a region */
#define REG_LEN (NSLOT * SLOT)	/* each region of A and B */
#define AREA (1024 * KiB)	/* the disk bytes of one application */
#define ROUNDS 32
#define FORGED_PER_APP (2 * 2 * 3) /* two times, two handles, READ WRITE UNREGISTER */
#define APP_ALARM 300		/* seconds an application may take at most */

/* Seeds (vmpattern.h; distinct patterns below 255). */
#define SEED_A 100		/* A's round r: SEED_A + r */
#define SEED_B 150
#define SEED_GOOD 200		/* the well-behaved client's block that stays */
#define SEED_GOOD_ROUND 201	/* its rounds: 201 + n % 40 */
#define SEED_GOOD_FINAL 241
#define SEED_RAW 245		/* the raw client's own blocks: 245, 246 */

static const char *sock_path = "/tmp/dmakitd-iso.sock";
static struct vmipc d;
static uint32_t bs;

/* ------------------------------------------------------------------ */
/* Two applications at once                                            */
/* ------------------------------------------------------------------ */

struct iso_args {
	const char *name;
	int nobody;
	unsigned zroute;	/* DMK_IPC_ROUTE_MEMFD or DMK_IPC_ROUTE_POOL */
	uint64_t area;		/* first LBA of its blocks */
	unsigned seed0;
	int to_peer, from_peer;	/* its pipe ends */
	int unused[2];		/* the other application's ends, closed */
};

/* Where round @r goes: region 0 (zero copy) or 1 (copy), slot of the
 * region, and slot of the application's disk area. */
static unsigned round_region(unsigned r)
{
	return r & 1;
}

static unsigned round_slot(unsigned r)
{
	return (r >> 1) % NSLOT;
}

static unsigned round_dslot(unsigned r)
{
	return round_region(r) * NSLOT + round_slot(r);
}

/* The seed the last round left in disk slot @ds (every slot is written). */
static unsigned final_seed(unsigned seed0, unsigned ds)
{
	unsigned seed = 0;

	for (unsigned r = 0; r < ROUNDS; r++)
		if (round_dslot(r) == ds)
			seed = seed0 + r;
	return seed;
}

static uint64_t dslot_lba(uint64_t area, unsigned ds)
{
	return area + (uint64_t)ds * SLOT / bs;
}

/* Both applications have come this far: each says so, then waits for the
 * other's word. 0, or -1 when the other is gone. */
static int barrier(const struct iso_args *a)
{
	char c = 'b';

	if (write(a->to_peer, &c, 1) != 1 || read(a->from_peer, &c, 1) != 1)
		return -1;
	return 0;
}

/* The other's handles for READ, WRITE and UNREGISTER: each refused with
 * -EPERM. The READ would fill the other's region with the blocks of disk
 * slot 0 of @a; the WRITE would put the other's bytes there. */
static int forge(const struct iso_args *a, struct dmk_ipc_client *c, const uint64_t peer[2],
		 const char *when)
{
	uint64_t lba = dslot_lba(a->area, 0);

	for (int i = 0; i < 2; i++) {
		int rd = dmk_ipc_client_read(c, peer[i], 0, SLOT, lba);
		int wr = dmk_ipc_client_write(c, peer[i], 0, SLOT, lba);
		int un = dmk_ipc_client_unregister(c, peer[i]);

		if (rd != -EPERM || wr != -EPERM || un != -EPERM) {
			fprintf(stderr, "%s (%s): the other's handle %" PRIu64 ": READ -> %d, WRITE -> %d, UNREGISTER -> %d, not -EPERM\n",
				a->name, when, peer[i], rd, wr, un);
			return -1;
		}
	}
	return 0;
}

/* Every slot of both buffers that a round has filled still holds what it
 * left there. */
static int check_buffers(const struct iso_args *a, uint8_t *const buf[2], const int exp[2][NSLOT],
			 const char *when)
{
	for (int g = 0; g < 2; g++)
		for (int s = 0; s < NSLOT; s++) {
			long at;

			if (exp[g][s] < 0)
				continue;
			at = differs_seed(buf[g] + (size_t)s * SLOT, SLOT, (unsigned)exp[g][s]);
			if (at >= 0) {
				fprintf(stderr, "%s (%s): region %d slot %d byte %ld is %#x, not pattern %d\n",
					a->name, when, g, s, at, buf[g][(size_t)s * SLOT + (size_t)at],
					exp[g][s]);
				return -1;
			}
		}
	return 0;
}

static int iso_app(void *arg)
{
	const struct iso_args *a = arg;
	struct dmk_ipc_client *c;
	uint64_t own[2], peer[2];
	int exp[2][NSLOT];
	uint8_t *buf[2];
	unsigned route;
	int fd = -1;

	close(a->unused[0]);
	close(a->unused[1]);
	alarm(APP_ALARM);
	if (a->nobody && vmipc_drop_root())
		return 10;
	if (dmk_ipc_client_connect(sock_path, NULL, &c))
		return 11;
	if (a->zroute == DMK_IPC_ROUTE_POOL) {
		if (dmk_ipc_client_alloc_pool(c, REG_LEN, DMK_PROT_RW, (void **)&buf[0], &own[0], &route) ||
		    route != DMK_IPC_ROUTE_POOL)
			return 12;
	} else {
		if (dmk_ipc_memfd_alloc(REG_LEN, (void **)&buf[0], &fd) ||
		    dmk_ipc_client_register_memfd(c, fd, 0, REG_LEN, DMK_PROT_RW, &own[0], &route) ||
		    route != DMK_IPC_ROUTE_MEMFD)
			return 12;
	}
	if (posix_memalign((void **)&buf[1], 4096, REG_LEN))
		return 13;
	if (dmk_ipc_client_register_copy(c, buf[1], REG_LEN, DMK_PROT_RW, &own[1], &route) ||
	    route != DMK_IPC_ROUTE_COPY)
		return 14;
	/* the handles, each way over the pipes */
	if (write(a->to_peer, own, sizeof(own)) != sizeof(own) ||
	    read(a->from_peer, peer, sizeof(peer)) != sizeof(peer))
		return 15;
	if (peer[0] == own[0] || peer[0] == own[1] || peer[1] == own[0] || peer[1] == own[1] ||
	    peer[0] == peer[1])
		return 16;
	memset(exp, -1, sizeof(exp));
	for (unsigned r = 0; r < ROUNDS; r++) {
		unsigned g = round_region(r), s = round_slot(r), seed = a->seed0 + r;
		uint64_t lba = dslot_lba(a->area, round_dslot(r));
		uint8_t *p = buf[g] + (size_t)s * SLOT;
		long at;
		int rc;

		if (barrier(a))
			return 20;
		fill_seed(p, SLOT, seed);
		rc = dmk_ipc_client_write(c, own[g], (uint64_t)s * SLOT, SLOT, lba);
		if (rc) {
			fprintf(stderr, "%s round %u: WRITE -> %d\n", a->name, r, rc);
			return 21;
		}
		memset(p, 0, SLOT);
		rc = dmk_ipc_client_read(c, own[g], (uint64_t)s * SLOT, SLOT, lba);
		if (rc) {
			fprintf(stderr, "%s round %u: READ -> %d\n", a->name, r, rc);
			return 22;
		}
		at = differs_seed(p, SLOT, seed);
		if (at >= 0) {
			fprintf(stderr, "%s round %u: byte %ld read back is %#x, not pattern %u\n",
				a->name, r, at, p[at], seed);
			return 23;
		}
		exp[g][s] = (int)seed;
		if (check_buffers(a, buf, exp, "during the rounds"))
			return 24;
		/* halfway: the other's handles, while the other uses them */
		if (r == ROUNDS / 2 && forge(a, c, peer, "while both do I/O"))
			return 25;
	}
	/* both quiet: the other's handles again, then look at everything */
	if (barrier(a))
		return 30;
	if (forge(a, c, peer, "both quiet"))
		return 31;
	if (barrier(a))
		return 32;
	if (check_buffers(a, buf, exp, "after the other's tries"))
		return 33;
	for (unsigned ds = 0; ds < 2 * NSLOT; ds++) {
		unsigned g = ds / NSLOT, s = ds % NSLOT;
		uint8_t *p = buf[g] + (size_t)s * SLOT;

		memset(p, 0, SLOT);
		if (dmk_ipc_client_read(c, own[g], (uint64_t)s * SLOT, SLOT, dslot_lba(a->area, ds)))
			return 34; /* -EPERM here: the other unregistered it */
	}
	if (check_buffers(a, buf, exp, "its blocks read back at the end"))
		return 35;
	if (dmk_ipc_client_unregister(c, own[0]) || dmk_ipc_client_unregister(c, own[1]))
		return 36;
	dmk_ipc_client_close(c);
	munmap(buf[0], REG_LEN);
	free(buf[1]);
	if (fd >= 0)
		close(fd);
	return 0;
}

/* After both left: another application reads both areas. */
struct verify_args {
	uint64_t area[2];
	unsigned seed0[2];
};

static int verify_app(void *arg)
{
	const struct verify_args *v = arg;
	struct dmk_ipc_client *c;
	uint8_t *buf;
	uint64_t h;
	unsigned route;
	int fd;

	alarm(APP_ALARM);
	if (dmk_ipc_client_connect(sock_path, NULL, &c) ||
	    dmk_ipc_memfd_alloc(SLOT, (void **)&buf, &fd) ||
	    dmk_ipc_client_register_memfd(c, fd, 0, SLOT, DMK_PROT_WRITE, &h, &route))
		return 1;
	for (int i = 0; i < 2; i++)
		for (unsigned ds = 0; ds < 2 * NSLOT; ds++) {
			unsigned seed = final_seed(v->seed0[i], ds);
			long at;

			memset(buf, 0, SLOT);
			if (dmk_ipc_client_read(c, h, 0, SLOT, dslot_lba(v->area[i], ds)))
				return 2;
			at = differs_seed(buf, SLOT, seed);
			if (at >= 0) {
				fprintf(stderr, "verifier: application %d slot %u byte %ld is %#x, not pattern %u\n",
					i, ds, at, buf[at], seed);
				return 3;
			}
		}
	dmk_ipc_client_close(c);
	return 0;
}

static void test_isolation(uint64_t area_a, uint64_t area_b)
{
	struct dmk_ipc_server_stats s0 = vmipc_stats(&d), s1;
	struct iso_args a = { "A (root, memfd + copy)", 0, DMK_IPC_ROUTE_MEMFD, area_a, SEED_A,
			      -1, -1, { -1, -1 } };
	struct iso_args b = { "B (uid 65534, pool + copy)", 1, DMK_IPC_ROUTE_POOL, area_b, SEED_B,
			      -1, -1, { -1, -1 } };
	struct verify_args v = { { area_a, area_b }, { SEED_A, SEED_B } };
	int ab[2], ba[2], ra, rb, rv;
	pid_t pa, pb;

	if (pipe(ab) || pipe(ba)) {
		result(false, "ipc-iso-two-at-once", "pipe");
		return;
	}
	a.to_peer = ab[1];
	a.from_peer = ba[0];
	a.unused[0] = ab[0];
	a.unused[1] = ba[1];
	b.to_peer = ba[1];
	b.from_peer = ab[0];
	b.unused[0] = ba[0];
	b.unused[1] = ab[1];
	pa = vmipc_fork(iso_app, &a);
	pb = vmipc_fork(iso_app, &b);
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
	ra = vmipc_wait(pa);
	rb = vmipc_wait(pb);
	result(ra == 0, "ipc-iso-root-memfd-copy",
	       "application A (root) failed at step %d (its stderr says why)", ra);
	result(rb == 0, "ipc-iso-nobody-pool-copy",
	       "application B (uid %d) failed at step %d (its stderr says why)", NOBODY, rb);
	s1 = vmipc_stats(&d);
	result(s1.forged - s0.forged == 2 * FORGED_PER_APP &&
	       s1.refused - s0.refused == 2 * FORGED_PER_APP && s1.dropped == s0.dropped,
	       "ipc-iso-forged-counted",
	       "the daemon counted %" PRIu64 " forged handles and %" PRIu64 " refusals (want %d each), %" PRIu64 " dropped connections",
	       s1.forged - s0.forged, s1.refused - s0.refused, 2 * FORGED_PER_APP,
	       s1.dropped - s0.dropped);
	if (ra == 0 && rb == 0) {
		rv = vmipc_run(verify_app, &v);
		result(rv == 0, "ipc-iso-disk-after", "a third application's check failed at step %d",
		       rv);
		for (int i = 0; i < 2; i++)
			for (unsigned ds = 0; ds < 2 * NSLOT; ds++)
				dmkcheck_seed(dslot_lba(v.area[i], ds) * bs, SLOT,
					      final_seed(v.seed0[i], ds));
	}
	vmipc_wait_idle(&d);
	result(vmipc_stats(&d).clients == 0 && vmipc_stats(&d).regions == 0 &&
	       vmipc_memfd_mappings() == 0, "ipc-iso-nothing-left",
	       "%" PRIu64 " clients, %" PRIu64 " regions, %d memfd/pool mappings after the applications left",
	       vmipc_stats(&d).clients, vmipc_stats(&d).regions, vmipc_memfd_mappings());
}

/* ------------------------------------------------------------------ */
/* Hostile messages                                                    */
/* ------------------------------------------------------------------ */

/* The well-behaved application: one round each time it is told "g". */
struct good_args {
	uint64_t area;
	int go, done, handle_out;	/* its ends */
	int unused[3];			/* the raw client's ends, closed */
};

static int good_app(void *arg)
{
	const struct good_args *a = arg;
	struct dmk_ipc_client *c;
	uint64_t h, lba0 = a->area, lba1 = a->area + SLOT / bs;
	unsigned route, n = 0;
	uint8_t *buf;
	char ch;
	int fd;

	for (int i = 0; i < 3; i++)
		close(a->unused[i]);
	alarm(APP_ALARM);
	if (vmipc_drop_root())
		return 10;
	if (dmk_ipc_client_connect(sock_path, NULL, &c) ||
	    dmk_ipc_memfd_alloc(2 * SLOT, (void **)&buf, &fd) ||
	    dmk_ipc_client_register_memfd(c, fd, 0, 2 * SLOT, DMK_PROT_RW, &h, &route) ||
	    route != DMK_IPC_ROUTE_MEMFD)
		return 11;
	if (write(a->handle_out, &h, sizeof(h)) != sizeof(h))
		return 12;
	/* block 0 keeps SEED_GOOD all along; block 1 changes every round */
	fill_seed(buf, SLOT, SEED_GOOD);
	fill_seed(buf + SLOT, SLOT, SEED_GOOD);
	if (dmk_ipc_client_write(c, h, 0, 2 * SLOT, lba0))
		return 13;
	while (read(a->go, &ch, 1) == 1 && ch == 'g') {
		unsigned seed = SEED_GOOD_ROUND + n % 40;

		/* the buffer is as the last round left it: a forged READ
		 * into it that moved bytes would show here */
		if (differs_seed(buf, SLOT, SEED_GOOD) >= 0 ||
		    differs_seed(buf + SLOT, SLOT, n ? SEED_GOOD_ROUND + (n - 1) % 40 : SEED_GOOD) >= 0) {
			fprintf(stderr, "well-behaved client, round %u: its buffer changed between rounds\n", n);
			return 21;
		}
		fill_seed(buf + SLOT, SLOT, seed);
		if (dmk_ipc_client_write(c, h, SLOT, SLOT, lba1))
			return 14;
		memset(buf, 0, 2 * SLOT);
		if (dmk_ipc_client_read(c, h, 0, 2 * SLOT, lba0))
			return 15;
		if (differs_seed(buf, SLOT, SEED_GOOD) >= 0 || differs_seed(buf + SLOT, SLOT, seed) >= 0) {
			fprintf(stderr, "well-behaved client, round %u: its data is not what it wrote\n", n);
			return 16;
		}
		if (write(a->done, "d", 1) != 1)
			return 17;
		n++;
	}
	if (n == 0)
		return 18;
	fill_seed(buf + SLOT, SLOT, SEED_GOOD_FINAL);
	if (dmk_ipc_client_write(c, h, SLOT, SLOT, lba1))
		return 19;
	memset(buf, 0, 2 * SLOT);
	if (dmk_ipc_client_read(c, h, 0, 2 * SLOT, lba0) || differs_seed(buf, SLOT, SEED_GOOD) >= 0 ||
	    differs_seed(buf + SLOT, SLOT, SEED_GOOD_FINAL) >= 0)
		return 20;
	dmk_ipc_client_close(c);
	return 0;
}

/* What the raw client sent, for the daemon's counters. */
struct hostile_report {
	uint32_t dropped, refused, forged;
};

struct hostile_args {
	uint64_t area;		/* its own blocks */
	int go, done, handle_in, report;	/* its ends */
	int unused[3];		/* the well-behaved client's ends, closed */
	struct hostile_report sent;
};

static int raw_connect(void)
{
	struct timeval tv = { 20, 0 };
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* an answer that never comes fails the check instead of hanging */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connect and say HELLO; the daemon's HELLO in *@granted (may be NULL). */
static int raw_hello(struct dmk_ipc_hello *granted)
{
	struct dmk_ipc_msg m;
	int fd = raw_connect();

	if (fd < 0)
		return -1;
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_HELLO;
	m.seq = 1;
	m.hello.version = DMK_IPC_VERSION;
	if (dmk_ipc_send(fd, &m, -1) || dmk_ipc_recv(fd, &m, NULL) || m.type != DMK_IPC_HELLO) {
		close(fd);
		return -1;
	}
	if (granted)
		*granted = m.hello;
	return fd;
}

/* The bytes of a READ or WRITE, as the encoder writes them. */
static size_t encode_io(uint8_t *raw, size_t cap, unsigned type, uint64_t seq, uint64_t handle,
			uint64_t offset, uint64_t length, uint64_t lba)
{
	struct dmk_ipc_msg m;
	size_t len = 0;

	memset(&m, 0, sizeof(m));
	m.type = (uint16_t)type;
	m.seq = seq;
	m.io.handle = handle;
	m.io.offset = offset;
	m.io.length = length;
	m.io.lba = lba;
	if (dmk_ipc_encode(&m, raw, cap, &len))
		return 0;
	return len;
}

static void put32le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The well-behaved client does a round and says it went well. */
static bool good_round(const struct hostile_args *a)
{
	char ch = 'g';

	return write(a->go, &ch, 1) == 1 && read(a->done, &ch, 1) == 1 && ch == 'd';
}

/*
 * A connection (after HELLO when @hello) sends the @n bytes at @bytes as
 * one datagram: the daemon must answer with an ERROR of @err and close it,
 * and the well-behaved client must then still be served.
 */
static void drop_case(struct hostile_args *a, const char *name, bool hello, const void *bytes,
		      size_t n, int err)
{
	struct dmk_ipc_msg m1, m2;
	int fd = hello ? raw_hello(NULL) : raw_connect(), r1, r2;
	ssize_t sent;
	bool good;

	a->sent.dropped++;
	if (fd < 0) {
		result(false, name, "could not connect%s", hello ? " and say HELLO" : "");
		return;
	}
	memset(&m1, 0, sizeof(m1));
	sent = send(fd, bytes, n, MSG_NOSIGNAL);
	r1 = dmk_ipc_recv(fd, &m1, NULL);
	r2 = dmk_ipc_recv(fd, &m2, NULL);
	close(fd);
	good = good_round(a);
	result(sent == (ssize_t)n && r1 == 0 && m1.type == DMK_IPC_ERROR && m1.error.err == err &&
	       r2 == -ECONNRESET && good, name,
	       "sent %zd of %zu bytes; answer %d, %s errno %d \"%s\" (want ERROR %d); then %d (want %d, closed); the well-behaved client %s",
	       sent, n, r1, dmk_ipc_type_name(m1.type), m1.error.err, m1.error.reason, err, r2,
	       -ECONNRESET, good ? "was served" : "was NOT served");
}

/* Send a READ or WRITE on @fd and take the answer: 0 for a COMPLETION
 * with status 0 and the bytes, the errno of an ERROR, or -1000 for
 * anything else (an answer to another seq, a lost connection). */
static int raw_io(int fd, unsigned type, uint64_t seq, uint64_t handle, uint64_t offset,
		  uint64_t length, uint64_t lba, char *why, size_t wl)
{
	struct dmk_ipc_msg m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.type = (uint16_t)type;
	m.seq = seq;
	m.io.handle = handle;
	m.io.offset = offset;
	m.io.length = length;
	m.io.lba = lba;
	rc = dmk_ipc_send(fd, &m, -1);
	if (!rc)
		rc = dmk_ipc_recv(fd, &m, NULL);
	if (rc) {
		snprintf(why, wl, "send/receive -> %d", rc);
		return -1000;
	}
	if (m.seq != seq) {
		snprintf(why, wl, "answer to seq %" PRIu64 ", not %" PRIu64, m.seq, seq);
		return -1000;
	}
	if (m.type == DMK_IPC_ERROR) {
		snprintf(why, wl, "ERROR %d \"%s\"", m.error.err, m.error.reason);
		return m.error.err;
	}
	if (m.type == DMK_IPC_COMPLETION && m.comp.status == 0 && m.comp.bytes == length) {
		snprintf(why, wl, "COMPLETION of %" PRIu64 " bytes", m.comp.bytes);
		return 0;
	}
	snprintf(why, wl, "%s status %d", dmk_ipc_type_name(m.type), m.comp.status);
	return -1000;
}

/* A request the daemon must refuse with @err, keeping the connection; the
 * region's bytes (@buf, @len) must stay @fill. */
static void refuse_case(struct hostile_args *a, int fd, const char *name, unsigned type,
			uint64_t handle, uint64_t offset, uint64_t length, uint64_t lba, int err,
			const uint8_t *buf, size_t len, uint8_t fill)
{
	static uint64_t seq = 100;
	char why[DMK_IPC_REASON_MAX + 64];
	size_t i;
	int rc;

	a->sent.refused++;
	rc = raw_io(fd, type, ++seq, handle, offset, length, lba, why, sizeof(why));
	for (i = 0; i < len && buf[i] == fill; i++)
		;
	result(rc == err && i == len, name,
	       "%s handle %" PRIu64 " offset %" PRIu64 " length %" PRIu64 " LBA %" PRIu64 ": %s (want %d); region byte %zu changed",
	       dmk_ipc_type_name(type), handle, offset, length, lba, why, err, i);
}

static int hostile_app(void *arg)
{
	struct hostile_args *a = arg;
	uint8_t raw[2 * DMK_IPC_MSG_MAX], *buf;
	struct dmk_ipc_msg m;
	struct dmk_ipc_hello lim;
	uint64_t good_h, h = 0, nlba;
	char why[DMK_IPC_REASON_MAX + 64];
	size_t n;
	int rfd, mfd, rc;

	failures = 0; /* this process's own checks */
	for (int i = 0; i < 3; i++)
		close(a->unused[i]);
	alarm(APP_ALARM);
	if (vmipc_drop_root())
		return 10;
	if (read(a->handle_in, &good_h, sizeof(good_h)) != sizeof(good_h))
		return 11;
	/* A connection with a region of its own, open all along; the
	 * daemon's HELLO says how many blocks the device has. */
	rfd = raw_hello(&lim);
	nlba = lim.nlba;
	if (rfd < 0 || nlba == 0 || dmk_ipc_memfd_alloc(SLOT, (void **)&buf, &mfd))
		return 12;
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.seq = 2;
	m.reg.route = DMK_IPC_ROUTE_MEMFD;
	m.reg.prot = DMK_PROT_RW;
	m.reg.length = SLOT;
	m.reg.addr = (uintptr_t)buf;
	if (dmk_ipc_send(rfd, &m, mfd) || dmk_ipc_recv(rfd, &m, NULL) ||
	    m.type != DMK_IPC_COMPLETION || m.comp.status || m.comp.route != DMK_IPC_ROUTE_MEMFD)
		return 13;
	h = m.comp.handle;
	if (h == 0 || h == good_h)
		return 14;

	/* Malformed or misplaced messages: ERROR, and that connection closed. */
	n = encode_io(raw, sizeof(raw), DMK_IPC_READ, 7, h, 0, SLOT, a->area);
	if (n == 0)
		return 15;
	drop_case(a, "ipc-hostile-shorter-than-header", true, raw, DMK_IPC_HEADER_SIZE - 4, -EBADMSG);
	put32le(raw + 8, (uint32_t)(n - 8));
	drop_case(a, "ipc-hostile-body-cut-short", true, raw, n - 8, -EBADMSG);
	put32le(raw + 8, (uint32_t)(n + 8));
	drop_case(a, "ipc-hostile-length-says-more", true, raw, n, -EBADMSG);
	put32le(raw + 8, (uint32_t)(n - 8));
	drop_case(a, "ipc-hostile-length-says-less", true, raw, n, -EBADMSG);
	memset(raw + n, 0, 8);
	put32le(raw + 8, (uint32_t)(n + 8));
	drop_case(a, "ipc-hostile-body-too-long", true, raw, n + 8, -EBADMSG);
	n = encode_io(raw, sizeof(raw), DMK_IPC_READ, 7, h, 0, SLOT, a->area);
	raw[6] = 77;
	drop_case(a, "ipc-hostile-unknown-type", true, raw, n, -EBADMSG);
	n = encode_io(raw, sizeof(raw), DMK_IPC_READ, 7, h, 0, SLOT, a->area);
	raw[4] = 1;
	drop_case(a, "ipc-hostile-old-version", true, raw, n, -EPROTO);
	raw[4] = DMK_IPC_VERSION + 1;
	drop_case(a, "ipc-hostile-new-version", true, raw, n, -EPROTO);
	n = encode_io(raw, sizeof(raw), DMK_IPC_READ, 7, h, 0, SLOT, a->area);
	raw[0] ^= 0xff;
	drop_case(a, "ipc-hostile-bad-magic", true, raw, n, -EBADMSG);
	n = encode_io(raw, sizeof(raw), DMK_IPC_READ, 7, h, 0, SLOT, a->area);
	raw[12] = 1;
	drop_case(a, "ipc-hostile-header-flags", true, raw, n, -EBADMSG);
	memset(raw, 0, sizeof(raw));
	n = encode_io(raw, sizeof(raw), DMK_IPC_READ, 7, h, 0, SLOT, a->area);
	put32le(raw + 8, DMK_IPC_MSG_MAX + 44);
	drop_case(a, "ipc-hostile-datagram-too-long", true, raw, DMK_IPC_MSG_MAX + 44, -EBADMSG);
	n = encode_io(raw, sizeof(raw), DMK_IPC_READ, 7, h, 0, SLOT, a->area);
	memset(raw + DMK_IPC_HEADER_SIZE, 0, 8); /* handle 0: a rule of the decoder */
	drop_case(a, "ipc-hostile-handle-zero", true, raw, n, -EINVAL);
	/* a HELLO of another version, as the first message */
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_HELLO;
	m.seq = 1;
	m.hello.version = DMK_IPC_VERSION;
	if (dmk_ipc_encode(&m, raw, sizeof(raw), &n))
		return 16;
	put32le(raw + DMK_IPC_HEADER_SIZE, 1);
	drop_case(a, "ipc-hostile-hello-version", false, raw, n, -EPROTO);
	n = encode_io(raw, sizeof(raw), DMK_IPC_READ, 7, h, 0, SLOT, a->area);
	drop_case(a, "ipc-hostile-before-hello", false, raw, n, -EPROTO);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_COMPLETION;
	m.seq = 8;
	if (dmk_ipc_encode(&m, raw, sizeof(raw), &n))
		return 17;
	drop_case(a, "ipc-hostile-completion-from-client", true, raw, n, -EPROTO);

	/* Its second block holds SEED_RAW + 1 (the forged WRITEs below aim
	 * there). */
	fill_seed(buf, SLOT, SEED_RAW + 1);
	if (raw_io(rfd, DMK_IPC_WRITE, 99, h, 0, SLOT, a->area + SLOT / bs, why, sizeof(why)))
		return 19;

	/* Well-formed requests the daemon refuses, the connection kept. The
	 * region holds 0xa5: a refused READ must not touch it. */
	memset(buf, 0xa5, SLOT);
	refuse_case(a, rfd, "ipc-hostile-offset-past-region", DMK_IPC_READ, h, SLOT, bs, a->area,
		    -EINVAL, buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-offset-far-past-region", DMK_IPC_READ, h, 1ull << 40, bs,
		    a->area, -EINVAL, buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-runs-past-region", DMK_IPC_READ, h, SLOT - bs, 2 * bs,
		    a->area, -EINVAL, buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-not-whole-blocks", DMK_IPC_READ, h, 0, 100, a->area,
		    -EINVAL, buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-not-whole-blocks-write", DMK_IPC_WRITE, h, 0, bs + 1,
		    a->area, -EINVAL, buf, SLOT, 0xa5);
	if (!good_round(a))
		result(false, "ipc-hostile-good-served", "after the range refusals");
	refuse_case(a, rfd, "ipc-hostile-lba-past-device", DMK_IPC_READ, h, 0, bs, nlba, -ERANGE,
		    buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-lba-runs-past-device", DMK_IPC_READ, h, 0, 2 * bs,
		    nlba - 1, -ERANGE, buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-lba-wraps", DMK_IPC_WRITE, h, 0, 2 * bs, UINT64_MAX - 1,
		    -ERANGE, buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-made-up-handle-read", DMK_IPC_READ, 0xfffffff0u, 0, bs,
		    a->area, -EPERM, buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-made-up-handle-write", DMK_IPC_WRITE, h + 1000, 0, bs,
		    a->area, -EPERM, buf, SLOT, 0xa5);
	/* the well-behaved client's real handle: the READ would fill its
	 * buffer with these blocks (it looks at the next round), the WRITE
	 * would put its bytes on this client's second block (read below) */
	refuse_case(a, rfd, "ipc-hostile-others-handle-read", DMK_IPC_READ, good_h, 0, SLOT,
		    a->area, -EPERM, buf, SLOT, 0xa5);
	refuse_case(a, rfd, "ipc-hostile-others-handle-write", DMK_IPC_WRITE, good_h, 0, SLOT,
		    a->area + SLOT / bs, -EPERM, buf, SLOT, 0xa5);
	a->sent.forged += 4;
	{
		/* UNREGISTER of another's and of a made-up handle */
		uint64_t hs[2] = { good_h, 0xfffffff1u };

		for (int i = 0; i < 2; i++) {
			memset(&m, 0, sizeof(m));
			m.type = DMK_IPC_UNREGISTER;
			m.seq = 300 + (uint64_t)i;
			m.unreg.handle = hs[i];
			rc = dmk_ipc_send(rfd, &m, -1);
			if (!rc)
				rc = dmk_ipc_recv(rfd, &m, NULL);
			a->sent.refused++;
			a->sent.forged++;
			result(rc == 0 && m.type == DMK_IPC_ERROR && m.error.err == -EPERM &&
			       m.seq == 300 + (uint64_t)i, i ? "ipc-hostile-made-up-handle-unregister" : "ipc-hostile-others-handle-unregister",
			       "UNREGISTER %" PRIu64 ": %d, %s errno %d seq %" PRIu64 " (want ERROR %d)",
			       hs[i], rc, dmk_ipc_type_name(m.type), m.error.err, m.seq, -EPERM);
		}
	}
	if (!good_round(a))
		result(false, "ipc-hostile-good-served", "after the handle refusals");
	memset(buf, 0, SLOT);
	rc = raw_io(rfd, DMK_IPC_READ, 398, h, 0, SLOT, a->area + SLOT / bs, why, sizeof(why));
	result(rc == 0 && differs_seed(buf, SLOT, SEED_RAW + 1) < 0, "ipc-hostile-forged-write-moved-nothing",
	       "its second block: READ %d, %s; %s", rc, why,
	       differs_seed(buf, SLOT, SEED_RAW + 1) < 0 ? "as written" : "NOT as written before the forged WRITE");
	if (rc == 0)
		dmkcheck_seed((a->area + SLOT / bs) * bs, SLOT, SEED_RAW + 1);

	/* The connection that was refused so much still does its own I/O,
	 * and the refused WRITEs left its blocks as it writes them now. */
	fill_seed(buf, SLOT, SEED_RAW);
	rc = raw_io(rfd, DMK_IPC_WRITE, 400, h, 0, SLOT, a->area, why, sizeof(why));
	if (rc == 0) {
		memset(buf, 0, SLOT);
		rc = raw_io(rfd, DMK_IPC_READ, 401, h, 0, SLOT, a->area, why, sizeof(why));
	}
	result(rc == 0 && differs_seed(buf, SLOT, SEED_RAW) < 0, "ipc-hostile-refused-conn-kept",
	       "its own WRITE and READ: %d, %s; data %s", rc, why,
	       differs_seed(buf, SLOT, SEED_RAW) < 0 ? "as written" : "NOT as written");
	if (rc == 0)
		dmkcheck_seed(a->area * bs, SLOT, SEED_RAW);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_BYE;
	m.seq = 402;
	dmk_ipc_send(rfd, &m, -1);
	close(rfd);
	munmap(buf, SLOT);
	close(mfd);
	if (write(a->report, &a->sent, sizeof(a->sent)) != sizeof(a->sent))
		return 18;
	/* tell the well-behaved client to finish */
	close(a->go);
	return failures ? 99 : 0;
}

static void test_hostile(uint64_t area_good, uint64_t area_raw)
{
	struct dmk_ipc_server_stats s0 = vmipc_stats(&d), s1;
	struct hostile_report rep;
	int go[2], done[2], hnd[2], report[2], rg, rh;
	struct good_args g;
	struct hostile_args h;
	bool got;
	pid_t pg, ph;

	if (pipe(go) || pipe(done) || pipe(hnd) || pipe(report)) {
		result(false, "ipc-hostile", "pipe");
		return;
	}
	memset(&g, 0, sizeof(g));
	memset(&h, 0, sizeof(h));
	g.area = area_good;
	g.go = go[0];
	g.done = done[1];
	g.handle_out = hnd[1];
	g.unused[0] = go[1];
	g.unused[1] = done[0];
	g.unused[2] = hnd[0];
	h.area = area_raw;
	h.go = go[1];
	h.done = done[0];
	h.handle_in = hnd[0];
	h.report = report[1];
	h.unused[0] = go[0];
	h.unused[1] = done[1];
	h.unused[2] = hnd[1];
	pg = vmipc_fork(good_app, &g);
	ph = vmipc_fork(hostile_app, &h);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	close(hnd[0]);
	close(hnd[1]);
	close(report[1]);
	got = read(report[0], &rep, sizeof(rep)) == sizeof(rep);
	close(report[0]);
	rh = vmipc_wait(ph);
	rg = vmipc_wait(pg);
	result(rh == 0, "ipc-hostile-client", "the raw client exited with %d (99: a check of its own failed, above; else the step)", rh);
	result(rg == 0, "ipc-hostile-good-client",
	       "the well-behaved client (uid %d) failed at step %d (its stderr says why)", NOBODY, rg);
	if (rg == 0) {
		dmkcheck_seed(area_good * bs, SLOT, SEED_GOOD);
		dmkcheck_seed((area_good + SLOT / bs) * bs, SLOT, SEED_GOOD_FINAL);
	}
	s1 = vmipc_stats(&d);
	result(got && rep.dropped > 0 && s1.dropped - s0.dropped == rep.dropped &&
	       s1.refused - s0.refused == rep.refused && s1.forged - s0.forged == rep.forged,
	       "ipc-hostile-counted",
	       "the daemon counted %" PRIu64 " dropped, %" PRIu64 " refused, %" PRIu64 " forged; the client sent %u, %u, %u (report %s)",
	       s1.dropped - s0.dropped, s1.refused - s0.refused, s1.forged - s0.forged,
	       got ? rep.dropped : 0, got ? rep.refused : 0, got ? rep.forged : 0,
	       got ? "read" : "missing");
	vmipc_wait_idle(&d);
	result(vmipc_stats(&d).clients == 0 && vmipc_stats(&d).regions == 0 &&
	       vmipc_memfd_mappings() == 0, "ipc-hostile-nothing-left",
	       "%" PRIu64 " clients, %" PRIu64 " regions, %d memfd mappings after the clients left",
	       vmipc_stats(&d).clients, vmipc_stats(&d).regions, vmipc_memfd_mappings());
}

int main(void)
{
	uint64_t base, end;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (vmipc_open(&d, sock_path, NULL, NULL))
		return 2;
	bs = d.info.lba_size;
	/* 4 MiB from nlba/2 + nlba/32, below test_ipc_lease's 5/8 */
	base = d.info.nlba / 2 + d.info.nlba / 32;
	end = base + 4ull * AREA / bs;
	printf("test_ipc_isolation: LBAs %" PRIu64 " to %" PRIu64 " of %" PRIu64 " (blocks of %u bytes)\n",
	       base, end, d.info.nlba, bs);
	SETUP(SLOT % bs || end > d.info.nlba / 8 * 5 ? -ENOSPC : 0, "setup");

	test_isolation(base, base + AREA / bs);
	test_hostile(base + 2 * AREA / bs, base + 3 * AREA / bs);

	vmipc_close(&d);
	return failures ? 1 : 0;
}
