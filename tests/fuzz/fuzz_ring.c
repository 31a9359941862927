/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the driver daemon's ring consumer (src/ipc/daemon_ring.c)
 * against a real server on the sim backend in this process. An input is
 * the program of a hostile client of the rings: entries written into any
 * slot (forged handles, offsets and lengths that wrap, blocks past the
 * device, raw bytes), sq_tail and cq_head set anywhere (within the ring,
 * past it, behind it), the flags and the daemon's own words scribbled on,
 * transfers held on the sim device and released; between them the steps
 * the daemon's poll loop takes (serve, arm, reap), run on this thread so
 * that an input replays the same way. A model of the protocol
 * (include/dmakit/ipc.h) predicts each step; the target aborts where the
 * daemon differs:
 *  - each entry taken completes once with its tag: status 0 when the model
 *    finds it valid, else the errno of a rule it breaks (a refusal is an
 *    error completion, the connection kept);
 *  - indices more than the ring apart close that connection alone, with
 *    ERROR -EPROTO on its socket, its memory released once the device is
 *    done;
 *  - no entry is taken without a completion slot; what is posted is
 *    published, and a completion doorbell asked for is rung;
 *  - no byte around the regions changes (guards), nor another
 *    connection's memory.
 * The connections (one for each ring size, 1 to 16 entries, and a
 * well-behaved one) are made by the server's own loop, on a thread that
 * is stopped before the steps of an input.
 *
 *	CC=clang meson setup build-fuzz -Dfuzz=true
 *	ninja -C build-fuzz tests/fuzz/fuzz_ring
 *	build-fuzz/tests/fuzz/fuzz_ring -max_total_time=30
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <dmakit/ipc.h>
#include <dmakit/ipc_server.h>
#include <dmakit/region.h>

#include "ipc/daemon_priv.h"
#include "ring_conn.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
	struct fuzz_server s;
	struct conn conn[RING_SIZES];
	unsigned hold;		/* how many of the next transfers the sim device holds */
	uint64_t next_tag;
} g;

struct input {
	const uint8_t *p;
	size_t n;
};

/* @bytes little-endian bytes of the input; 0 once it is used up. */
static uint64_t take(struct input *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && in->n; i++, in->n--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

/* The statuses a completion may have, as a mask: OK_BIT for 0, then
 * -EINVAL 2, -EPERM 4, -ERANGE 8, -EACCES 16. */
#define OK_BIT 1u
static unsigned errbit(int32_t st)
{
	switch (st) {
	case 0: return OK_BIT;
	case -EINVAL: return 2;
	case -EPERM: return 4;
	case -ERANGE: return 8;
	case -EACCES: return 16;
	default: return 0;
	}
}

/* The model's verdict on an entry: OK_BIT with the region in *@reg, or a
 * bit for each rule it breaks (the daemon names one of them). */
static unsigned verdict(const struct conn *c, const struct dmk_ipc_sqe *e, int *reg)
{
	bool op_ok = (e->op == DMK_IPC_READ || e->op == DMK_IPC_WRITE) && !e->flags;
	unsigned bad = op_ok ? 0 : errbit(-EINVAL);
	int r = conn_region(c, e->handle);

	if (r < 0) {
		bad |= errbit(-EPERM);
	} else {
		if (e->offset > conn_regs[r].len || e->length > conn_regs[r].len - e->offset)
			bad |= errbit(-EINVAL);
		if (op_ok && !(conn_regs[r].prot &
			       (e->op == DMK_IPC_READ ? DMK_PROT_WRITE : DMK_PROT_READ)))
			bad |= errbit(-EACCES);
	}
	if (e->length == 0 || e->length > DMK_IPC_IO_MAX || e->length % FUZZ_LBA)
		bad |= errbit(-EINVAL);
	if (e->lba > FUZZ_NLBA || e->length / FUZZ_LBA > FUZZ_NLBA - e->lba)
		bad |= errbit(-ERANGE);
	*reg = r;
	return bad ? bad : OK_BIT;
}

struct expect {
	uint64_t tag;
	unsigned allowed;
};

/* The completions the daemon posted since @cq0 against @exp; published,
 * and the doorbell rung if the client asked for it. */
static void check_posted(struct conn *c, uint32_t cq0, const struct expect *exp, unsigned n)
{
	uint32_t mask = c->entries - 1;
	uint64_t v;

	for (unsigned i = 0; i < n; i++) {
		const struct dmk_ipc_cqe *ce = &c->cq[(cq0 + i) & mask];

		FUZZ_CHECK(ce->tag == exp[i].tag && (errbit(ce->status) & exp[i].allowed) && !ce->flags,
			   "completion %u of %u: tag %llu status %d, want tag %llu, a status of mask %#x", i, n,
			   (unsigned long long)ce->tag, ce->status, (unsigned long long)exp[i].tag,
			   exp[i].allowed);
	}
	if (!n)
		return;
	FUZZ_CHECK(__atomic_load_n(&c->hdr->cq_tail, __ATOMIC_ACQUIRE) == c->cq_tail,
		   "cq_tail %u published, %u posted", c->hdr->cq_tail, c->cq_tail);
	if (__atomic_load_n(&c->hdr->cq_flags, __ATOMIC_RELAXED) & DMK_IPC_RING_NEED_WAKEUP)
		FUZZ_CHECK(read(c->cq_efd, &v, sizeof(v)) == sizeof(v),
			   "completions published to a sleeping client without its doorbell");
	while (read(c->cq_efd, &v, sizeof(v)) > 0)
		;
}

static bool indices_bad(const struct conn *c)
{
	return c->tail - c->head > c->entries || c->cq_tail - c->cq_head > c->entries;
}

/* Indices that cannot be: this connection closed, saying why on its
 * socket; its regions kept until the device is done with them. */
static void check_dropped(struct conn *c, const struct dmk_ipc_server_stats *s0)
{
	struct dmk_ipc_server_stats s1;
	struct dmk_ipc_msg m;

	FUZZ_CHECK(c->sc->fd < 0, "indices sq %u..%u, cq %u..%u of %u entries: not closed", c->head,
		   c->tail, c->cq_head, c->cq_tail, c->entries);
	FUZZ_CHECK(dmk_ipc_recv(c->sock, &m, NULL) == 0 && m.type == DMK_IPC_ERROR &&
		   m.error.err == -EPROTO, "a closed connection not told EPROTO");
	FUZZ_CHECK(dmk_ipc_recv(c->sock, &m, NULL) == -ECONNRESET, "a closed connection still open");
	FUZZ_CHECK(c->sc->draining == (c->inflight != 0), "draining %d with %u on the device",
		   c->sc->draining, c->inflight);
	if (c->inflight) {
		FUZZ_CHECK(dmk_ipc_backend_sim_release(g.s.be) == (int)c->inflight, "held transfers");
		FUZZ_CHECK(dmki_srv_device_reap(g.s.srv) == c->inflight, "reaped transfers");
		FUZZ_CHECK(!c->sc->draining && c->sc->fd < 0, "not released once drained");
	}
	dmk_ipc_server_stats(g.s.srv, &s1);
	FUZZ_CHECK(s1.dropped == s0->dropped + 1 && s1.regions == s0->regions - NREG &&
		   s1.clients == s0->clients - 1, "dropped %llu, regions %llu, clients %llu",
		   (unsigned long long)s1.dropped, (unsigned long long)s1.regions,
		   (unsigned long long)s1.clients);
	conn_close(c);
}

/* The daemon serves the rings once, as its loop does after each poll. */
static void step_serve(struct conn *c)
{
	struct dmk_ipc_server_stats s0, s1;
	struct expect exp[RING_MAX];
	uint32_t mask = c->entries - 1, cq0 = c->cq_tail, head0 = c->head;
	unsigned n = 0, taken = 0, refused = 0, moved = 0, got;

	dmk_ipc_server_stats(g.s.srv, &s0);
	if (indices_bad(c)) {
		dmki_srv_ring_serve(g.s.srv, c->sc);
		check_dropped(c, &s0);
		return;
	}
	while (c->head != c->tail && c->cq_tail - c->cq_head + c->inflight < c->entries &&
	       taken < c->entries) {
		const struct dmk_ipc_sqe *e = &c->slot[c->head & mask];
		int r;
		unsigned a = verdict(c, e, &r);

		c->head++;
		taken++;
		if (a != OK_BIT) {
			refused++;
		} else if (conn_regs[r].route != DMK_IPC_ROUTE_COPY && g.hold) {
			g.hold--;
			c->held[c->inflight++] = e->tag;
			continue;
		} else {
			moved++;
		}
		exp[n++] = (struct expect){ e->tag, a };
		c->cq_tail++;
	}
	got = dmki_srv_ring_serve(g.s.srv, c->sc);
	FUZZ_CHECK(c->sc->fd >= 0, "indices sq %u..%u, cq %u..%u of %u entries: closed", head0,
		   c->tail, c->cq_head, cq0, c->entries);
	FUZZ_CHECK(got == taken, "%u entries taken, the model %u (sq to %u, cq %u..%u, %u on the device)",
		   got, taken, c->tail, c->cq_head, cq0, c->inflight);
	FUZZ_CHECK(c->sc->inflight == c->inflight, "%u on the device, the model %u", c->sc->inflight,
		   c->inflight);
	if (taken)
		FUZZ_CHECK(__atomic_load_n(&c->hdr->sq_head, __ATOMIC_ACQUIRE) == c->head,
			   "sq_head %u published, %u taken", c->hdr->sq_head, c->head);
	check_posted(c, cq0, exp, n);
	dmk_ipc_server_stats(g.s.srv, &s1);
	FUZZ_CHECK(s1.refused - s0.refused == refused && s1.requests - s0.requests == moved,
		   "refused %llu and moved %llu, the model %u and %u",
		   (unsigned long long)(s1.refused - s0.refused),
		   (unsigned long long)(s1.requests - s0.requests), refused, moved);
}

/* Going to sleep: the daemon asks for the doorbell and says whether there
 * is work after all (indices that cannot be are: they close it). */
static void step_arm(struct conn *c)
{
	bool want = indices_bad(c) ||
		    (c->tail != c->head && c->cq_tail - c->cq_head + c->inflight < c->entries);

	FUZZ_CHECK(dmki_srv_ring_arm(&c->sc->ring, c->sc->inflight) == want, "arm: work %d", want);
	FUZZ_CHECK(__atomic_load_n(&c->hdr->sq_flags, __ATOMIC_RELAXED) == DMK_IPC_RING_NEED_WAKEUP,
		   "arm: sq_flags %#x", c->hdr->sq_flags);
	/* woken: the loop clears it */
	__atomic_store_n(&c->hdr->sq_flags, 0, __ATOMIC_RELAXED);
}

/* The device finishes what it holds; the daemon reaps and posts. */
static void step_release(struct conn *c)
{
	struct dmk_ipc_server_stats s0, s1;
	struct expect exp[RING_MAX];
	uint32_t cq0 = c->cq_tail;
	unsigned n = c->inflight;

	dmk_ipc_server_stats(g.s.srv, &s0);
	FUZZ_CHECK(dmk_ipc_backend_sim_release(g.s.be) == (int)n, "the device held other than %u", n);
	FUZZ_CHECK(dmki_srv_device_reap(g.s.srv) == n, "reaped other than %u", n);
	for (unsigned i = 0; i < n; i++)
		exp[i] = (struct expect){ c->held[i], OK_BIT };
	c->cq_tail += n;
	c->inflight = 0;
	FUZZ_CHECK(c->sc->inflight == 0, "%u on the device after the reap", c->sc->inflight);
	check_posted(c, cq0, exp, n);
	dmk_ipc_server_stats(g.s.srv, &s1);
	FUZZ_CHECK(s1.requests - s0.requests == n && s1.inflight == 0, "reap: requests %llu, inflight %llu",
		   (unsigned long long)(s1.requests - s0.requests), (unsigned long long)s1.inflight);
}

static uint64_t pick_handle(const struct conn *c, struct input *in)
{
	unsigned sel = (unsigned)take(in, 1);

	switch (sel % 8) {
	case 0: case 1: case 2: case 3: return c->handle[sel % NREG];
	case 4: return g.s.other_handle;	/* another connection's */
	case 5: return 0;
	case 6: return c->handle[0] + NREG + (sel >> 3);	/* none yet */
	default: return take(in, 8);
	}
}

static uint64_t pick_offset(uint64_t len, struct input *in)
{
	switch (take(in, 1) % 8) {
	case 0: return FUZZ_LBA * (take(in, 1) % 16);
	case 1: return len - FUZZ_LBA * (take(in, 1) % 4);
	case 2: return len;
	case 3: return UINT64_MAX - take(in, 2);
	case 4: return 1ull << 63 | take(in, 2);
	case 5: return take(in, 2);
	case 6: return len + FUZZ_LBA * take(in, 1);
	default: return take(in, 8);
	}
}

static uint64_t pick_length(uint64_t len, uint64_t off, struct input *in)
{
	switch (take(in, 1) % 8) {
	case 0: return FUZZ_LBA * (1 + take(in, 1) % 16);
	case 1: return 0;
	case 2: return take(in, 2);
	case 3: return 0 - (uint64_t)FUZZ_LBA * (1 + take(in, 1));	/* wraps the offset */
	case 4: return DMK_IPC_IO_MAX;
	case 5: return DMK_IPC_IO_MAX + FUZZ_LBA;
	case 6: return off <= len ? (len - off) / FUZZ_LBA * FUZZ_LBA : FUZZ_LBA;
	default: return take(in, 8);
	}
}

static uint64_t pick_lba(uint64_t length, struct input *in)
{
	switch (take(in, 1) % 6) {
	case 0: return take(in, 1);
	case 1: return FUZZ_NLBA - length / FUZZ_LBA;	/* the last blocks */
	case 2: return FUZZ_NLBA - length / FUZZ_LBA + 1;
	case 3: return FUZZ_NLBA;
	case 4: return UINT64_MAX - take(in, 1);
	default: return take(in, 8);
	}
}

static void put_entry(struct conn *c, uint32_t idx, const struct dmk_ipc_sqe *e)
{
	c->slot[idx & (c->entries - 1)] = *e;
	c->sq[idx & (c->entries - 1)] = *e;
}

/* An entry into slot head + k: READ or WRITE mostly, any op and flags at times. */
static void step_entry(struct conn *c, struct input *in)
{
	uint32_t idx = c->head + (uint32_t)(take(in, 1) % c->entries);
	unsigned op = (unsigned)take(in, 1), fl = (unsigned)take(in, 1);
	struct dmk_ipc_sqe e;
	int r;

	memset(&e, 0, sizeof(e));
	e.op = (uint8_t)(op < 0xf0 ? (op & 1 ? DMK_IPC_READ : DMK_IPC_WRITE) : op & 0xf);
	e.flags = (uint8_t)(fl < 0xf0 ? 0 : fl & 0xf);
	e.handle = pick_handle(c, in);
	r = conn_region(c, e.handle);
	e.offset = pick_offset(r < 0 ? 4096 : conn_regs[r].len, in);
	e.length = pick_length(r < 0 ? 4096 : conn_regs[r].len, e.offset, in);
	e.lba = pick_lba(e.length, in);
	e.tag = ++g.next_tag;
	put_entry(c, idx, &e);
}

/* Raw bytes for a whole slot. */
static void step_raw_entry(struct conn *c, struct input *in)
{
	uint32_t idx = c->head + (uint32_t)(take(in, 1) % c->entries);
	uint64_t w[sizeof(struct dmk_ipc_sqe) / 8];
	struct dmk_ipc_sqe e;

	for (size_t i = 0; i < sizeof(w) / 8; i++)
		w[i] = take(in, 8);
	memcpy(&e, w, sizeof(e));
	put_entry(c, idx, &e);
}

/* Up to a ring's worth of one-block requests after the tail, published. */
static void step_burst(struct conn *c, struct input *in)
{
	unsigned n = 1 + (unsigned)(take(in, 1) % c->entries);

	for (unsigned i = 0; i < n; i++) {
		unsigned sel = (unsigned)take(in, 1);
		struct dmk_ipc_sqe e = {
			.op = sel & 1 ? DMK_IPC_READ : DMK_IPC_WRITE,
			.handle = c->handle[(sel >> 1) % NREG],
			.offset = FUZZ_LBA * ((sel >> 3) % 4),
			.length = FUZZ_LBA,
			.lba = take(in, 1),
			.tag = ++g.next_tag,
		};

		put_entry(c, c->tail + i, &e);
	}
	c->tail += n;
	__atomic_store_n(&c->hdr->sq_tail, c->tail, __ATOMIC_RELEASE);
}

static void step_tail(struct conn *c, struct input *in)
{
	switch (take(in, 1) % 4) {
	case 0: c->tail = c->head + (uint32_t)(take(in, 1) % (c->entries + 1)); break;
	case 1: c->tail = c->head + c->entries + 1 + (uint32_t)take(in, 1); break;
	case 2: c->tail = c->head + (uint32_t)take(in, 4); break;
	default: c->tail = c->head - 1 - (uint32_t)take(in, 1); break;
	}
	__atomic_store_n(&c->hdr->sq_tail, c->tail, __ATOMIC_RELEASE);
}

static void step_cq_head(struct conn *c, struct input *in)
{
	switch (take(in, 1) % 4) {
	case 0: c->cq_head = c->cq_tail; break;
	case 1: c->cq_head = c->cq_tail - (uint32_t)(take(in, 1) % (c->entries + 1)); break;
	case 2: c->cq_head = c->cq_tail + (uint32_t)take(in, 4); break;
	default: c->cq_head = c->cq_tail - c->entries - 1 - (uint32_t)take(in, 1); break;
	}
	__atomic_store_n(&c->hdr->cq_head, c->cq_head, __ATOMIC_RELEASE);
}

/* The client's flag, and words only the daemon should write. */
static void step_scribble(struct conn *c, struct input *in)
{
	uint32_t v = (uint32_t)take(in, 4);

	switch (take(in, 1) % 5) {
	case 0: __atomic_store_n(&c->hdr->cq_flags, v & 1 ? DMK_IPC_RING_NEED_WAKEUP : 0, __ATOMIC_RELAXED); break;
	case 1: __atomic_store_n(&c->hdr->cq_flags, v, __ATOMIC_RELAXED); break;
	case 2: __atomic_store_n(&c->hdr->sq_flags, v, __ATOMIC_RELAXED); break;
	case 3: __atomic_store_n(&c->hdr->sq_head, v, __ATOMIC_RELAXED); break;
	default: __atomic_store_n(&c->hdr->cq_tail, v, __ATOMIC_RELAXED); break;
	}
}

static void step_hold(struct input *in)
{
	g.hold = (unsigned)(take(in, 1) % 4);
	FUZZ_CHECK(dmk_ipc_backend_sim_hold(g.s.be, g.hold) == 0, "sim hold");
}

/* The end of an input: served once more, the device done, every index
 * back to where a fresh connection's would be relative to the head. */
static void finish(struct conn *c)
{
	if (c->up)
		step_serve(c);
	g.hold = 0;
	dmk_ipc_backend_sim_hold(g.s.be, 0);
	if (c->up) {
		if (c->inflight)
			step_release(c);
		conn_reset(c);
		conn_check_guards(c);
	}
	fuzz_server_check_other(&g.s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	fuzz_server_start(&g.s);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct conn *c = &g.conn[take(&in, 1) % RING_SIZES];

	if (!c->up)
		conn_open(&g.s, c, 1u << (c - g.conn));
	g.next_tag = 0;
	while (in.n && c->up) {
		switch (take(&in, 1) % 12) {
		case 0: case 1: step_entry(c, &in); break;
		case 2: step_raw_entry(c, &in); break;
		case 3: step_burst(c, &in); break;
		case 4: step_tail(c, &in); break;
		case 5: step_cq_head(c, &in); break;
		case 6: step_scribble(c, &in); break;
		case 7: case 8: step_serve(c); break;
		case 9: step_arm(c); break;
		case 10: step_hold(&in); break;
		default: if (c->inflight) step_release(c); break;
		}
	}
	finish(c);
	return 0;
}
