/* SPDX-License-Identifier: MIT */
/*
 * Many threads on one sim space, bounded in time (DMK_THREADS_MS, 300 ms by
 * default):
 *
 * - workers prepare, check, sync and complete their own commands on their
 *   own buffers and on their own slices of a shared registration S, through
 *   a shared bounce pool, some with segment limits (resuming from
 *   offset + covered);
 * - a registrar registers and unregisters other memory, some of it sharing
 *   pages with the workers' buffers;
 * - an unregistrar tries to unregister S, which a command keeps prepared all
 *   along (-EBUSY every time), and plays a handshake with a toggler thread
 *   on a registration T: -EBUSY while the toggler's command is prepared on
 *   T, 0 once it completed.
 *
 * Every prepared segment is checked against dmk_space_translate() (or lies
 * in a pool chunk) and read back through the simulated IOMMU
 * (dmk_sim_dma_read) to hold exactly the bytes of the transfer. cmocka's
 * assertions are not for threads: threads count failures and keep the
 * first message; the main thread asserts.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <dmakit/dma.h>
#include <dmakit/error.h>
#include <dmakit/mem.h>
#include <dmakit/region.h>
#include <dmakit/space.h>

#include "dma/dma_priv.h"

#define PG ((uint64_t)4096)
#define NWORKERS 4
#define WORKER_PAGES 16
#define S_PAGES (4 * NWORKERS)
#define NOTHER 24
#define POOL_CHUNKS 64

static atomic_int failures;
static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_msg[512];

__attribute__((format(printf, 1, 2))) static void failf(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&failures, 1) == 0) {
		pthread_mutex_lock(&msg_lock);
		va_start(ap, fmt);
		vsnprintf(first_msg, sizeof(first_msg), fmt, ap);
		va_end(ap);
		pthread_mutex_unlock(&msg_lock);
	}
}

#define CHECK(cond, ...)                    \
	do {                                \
		if (!(cond))                \
			failf(__VA_ARGS__); \
	} while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct world {
	struct dmk_space *sp;
	struct dmk_bounce_pool *pool;
	uint64_t chunk_dev[POOL_CHUNKS];
	char *area;			/* all memory of the test, one mapping */
	char *wbuf[NWORKERS];		/* a worker's own buffer */
	char *S;			/* shared registration, a slice per worker */
	char *T;			/* the toggler's registration */
	char *other;			/* the registrar's own memory */
	uint64_t wdev[NWORKERS][WORKER_PAGES];	/* translations at the start */
	struct dmk_region *sreg, *treg;
	atomic_bool stop;
	atomic_int toggle;		/* see toggler() */
	atomic_long spurious, s_busy, t_busy, t_ok, reg_ops, prepares, bounced_preps, enobufs;
};

static struct world w;

static bool in_pool(uint64_t dev, uint64_t len)
{
	for (size_t c = 0; c < POOL_CHUNKS; c++)
		if (dev >= w.chunk_dev[c] && dev + len <= w.chunk_dev[c] + PG)
			return true;
	return false;
}

/* The VA of byte @x of an iovec; *@left receives the bytes left in its entry. */
static char *va_left(const struct iovec *iov, int cnt, uint64_t x, uint64_t *left)
{
	for (int i = 0; i < cnt; i++) {
		if (x < iov[i].iov_len) {
			*left = iov[i].iov_len - x;
			return (char *)iov[i].iov_base + x;
		}
		x -= iov[i].iov_len;
	}
	*left = 0;
	return NULL;
}

static char *va_at(const struct iovec *iov, int cnt, uint64_t x)
{
	uint64_t left;

	return va_left(iov, cnt, x, &left);
}

/*
 * Check a prepared command over bytes [off, off + cov) of @iov: each segment
 * translates exactly (or lies in pool chunks) and the device reads exactly
 * those bytes.
 */
static void verify(struct dmk_dma *d, const struct iovec *iov, int cnt, uint64_t off, uint64_t cov,
		   const char *who)
{
	size_t n = 0;
	const struct dmk_seg *s = dmk_dma_segs(d, &n);
	uint64_t x = off;
	char buf[8192];

	CHECK(s && n, "%s: prepared command without segments", who);
	for (size_t i = 0; s && i < n; i++) {
		uint64_t dev = 0;
		char *va = va_at(iov, cnt, x);
		bool in_place;

		CHECK(va, "%s: segment %zu beyond the descriptor", who, i);
		if (!va)
			return;
		in_place = !dmk_space_translate(w.sp, va, &dev) && dev == s[i].addr;
		for (uint64_t k = 0; k < s[i].len;) {
			uint64_t left, got = 0;
			char *v = va_left(iov, cnt, x + k, &left);
			uint64_t piece = PG - ((uintptr_t)v & (PG - 1));
			int err;

			if (!v) {
				failf("%s: segment %zu runs past the descriptor", who, i);
				return;
			}
			if (piece > left)
				piece = left;
			if (piece > s[i].len - k)
				piece = s[i].len - k;
			if (in_place) {
				err = dmk_space_translate(w.sp, v, &got);
				CHECK(!err && got == s[i].addr + k,
				      "%s: segment %zu byte %llu: device %#llx, translation %#llx (err %d)", who, i,
				      (unsigned long long)k, (unsigned long long)(s[i].addr + k),
				      (unsigned long long)got, err);
			} else {
				uint64_t c = s[i].addr + k, room = PG - (c & (PG - 1));

				CHECK(in_pool(c, piece < room ? piece : room),
				      "%s: segment %zu at %#llx is neither the memory's translation nor the pool", who,
				      i, (unsigned long long)c);
			}
			/* The device's view of these bytes. */
			uint64_t l = piece < sizeof(buf) ? piece : sizeof(buf);
			err = dmk_sim_dma_read(w.sp, s[i].addr + k, buf, l);
			CHECK(!err, "%s: device read of segment %zu faulted: %s", who, i, dmk_last_error());
			if (!err && memcmp(buf, v, l))
				failf("%s: segment %zu (%#llx) does not hold transfer byte %llu: wrong translation",
				      who, i, (unsigned long long)s[i].addr, (unsigned long long)(x + k));
			k += l;
		}
		x += s[i].len;
	}
	CHECK(x == off + cov, "%s: segments cover %llu bytes, covered says %llu", who,
	      (unsigned long long)(x - off), (unsigned long long)cov);
}

static void fill(const struct iovec *iov, int cnt, uint64_t seed)
{
	for (int i = 0; i < cnt; i++)
		for (size_t k = 0; k < iov[i].iov_len; k++)
			((char *)iov[i].iov_base)[k] = (char)rnd(&seed);
}

/* ---- workers ---- */

struct worker {
	int id;
	struct dmk_dma *d;
	struct dmk_dma_spec spec;
	long iters;
};

static void one_io(struct worker *wk, uint64_t *seed)
{
	char *own = w.wbuf[wk->id], *mine = w.S + 4 * PG * wk->id, who[32];
	struct iovec iov[2];
	int cnt = 1, err;
	uint64_t total, off = 0, cov = 0;
	uint32_t la = (uint32_t)wk->spec.len_align;
	enum dmk_dir dir = (rnd(seed) & 1) ? DMK_TO_DEVICE : DMK_FROM_DEVICE;
	struct dmk_mem *m = NULL;

	snprintf(who, sizeof(who), "worker %d", wk->id);
	/* a random piece of the own buffer, often misaligned; sometimes plus a piece of S */
	uint64_t a = rnd(seed) % (WORKER_PAGES * PG - 64);
	uint64_t l = 1 + rnd(seed) % (WORKER_PAGES * PG - a);
	if (!(rnd(seed) % 4))
		a &= ~(uint64_t)3;
	iov[0] = (struct iovec){ own + a, l };
	if (rnd(seed) & 1) {
		uint64_t b = rnd(seed) % (4 * PG - 1);

		iov[1] = (struct iovec){ mine + b, 1 + rnd(seed) % (4 * PG - b) };
		cnt = 2;
	}
	total = iov[0].iov_len + (cnt > 1 ? iov[1].iov_len : 0);
	total -= total % la;
	if (!total)
		return;
	fill(iov, cnt, rnd(seed));
	err = dmk_mem_create(iov, cnt, dir, &m);
	CHECK(!err, "%s: mem_create: %s", who, dmk_last_error());
	if (err)
		return;
	while (off < total) {
		err = dmk_dma_prepare(wk->d, m, off, total - off, &cov);
		if (err == -ENOBUFS && !atomic_load(&w.stop)) {
			atomic_fetch_add(&w.enobufs, 1);
			sched_yield();
			continue;
		}
		/*
		 * region.h: "Commands being prepared on the same memory at the
		 * same moment [as an unregister] may fail with -EFAULT", and
		 * that holds for the unregistrar's refused attempts on S too.
		 * Only S's bytes may fail so; retry.
		 */
		unsigned long long bad;
		if (err == -EFAULT && sscanf(dmk_last_error(), "byte %llu of the transfer is in a registration being removed", &bad) == 1 &&
		    cnt == 2 && bad >= iov[0].iov_len) {
			/* Also when stopping: the unregistrar may be mid-attempt. */
			if (atomic_load(&w.stop))
				break;
			atomic_fetch_add(&w.spurious, 1);
			continue;
		}
		CHECK(!err, "%s: prepare %llu+%llu: %d %s", who, (unsigned long long)off,
		      (unsigned long long)(total - off), err, dmk_last_error());
		if (err)
			break;
		CHECK(cov > 0 && cov <= total - off, "%s: covered %llu of %llu", who, (unsigned long long)cov,
		      (unsigned long long)(total - off));
		atomic_fetch_add(&w.prepares, 1);
		struct dmk_dma_info info;
		dmk_dma_info(wk->d, &info);
		if (info.bounced)
			atomic_fetch_add(&w.bounced_preps, 1);
		CHECK(info.covered == cov, "%s: info.covered %llu != %llu", who,
		      (unsigned long long)info.covered, (unsigned long long)cov);
		if (dir == DMK_TO_DEVICE) {
			CHECK(!dmk_dma_sync(wk->d, DMK_SYNC_FOR_DEVICE), "%s: sync", who);
			verify(wk->d, iov, cnt, off, cov, who);
			CHECK(!dmk_dma_sync(wk->d, DMK_SYNC_FOR_CPU), "%s: sync", who);
		} else {
			/* The device writes a pattern; the CPU sees it after the sync. */
			size_t n;
			const struct dmk_seg *s = dmk_dma_segs(wk->d, &n);
			uint64_t x = off;
			unsigned char salt = (unsigned char)rnd(seed);
			char buf[4096];

			CHECK(!dmk_dma_sync(wk->d, DMK_SYNC_FOR_DEVICE), "%s: sync", who);
			for (size_t i = 0; s && i < n; i++) {
				for (uint64_t k = 0; k < s[i].len; k += sizeof(buf)) {
					uint64_t q = s[i].len - k < sizeof(buf) ? s[i].len - k : sizeof(buf);

					for (uint64_t j = 0; j < q; j++)
						buf[j] = (char)((x + k + j) * 7 + salt);
					CHECK(!dmk_sim_dma_write(w.sp, s[i].addr + k, buf, q),
					      "%s: device write faulted: %s", who, dmk_last_error());
				}
				x += s[i].len;
			}
			CHECK(!dmk_dma_sync(wk->d, DMK_SYNC_FOR_CPU), "%s: sync", who);
			for (uint64_t y = off; y < off + cov; y++) {
				char *v = va_at(iov, cnt, y);

				if (*v != (char)(y * 7 + salt)) {
					failf("%s: byte %llu of a device-to-memory transfer is wrong", who,
					      (unsigned long long)y);
					break;
				}
			}
		}
		CHECK(!dmk_dma_complete(wk->d), "%s: complete: %s", who, dmk_last_error());
		off += cov;
	}
	dmk_mem_destroy(m);

	/* Our own registration never moves. */
	for (size_t pg = 0; pg < WORKER_PAGES; pg += 5) {
		uint64_t dev = 0;
		int e = dmk_space_translate(w.sp, own + pg * PG + 17, &dev);

		CHECK(!e && dev == w.wdev[wk->id][pg] + 17, "%s: page %zu translates to %#llx, was %#llx", who,
		      pg, (unsigned long long)dev, (unsigned long long)w.wdev[wk->id][pg]);
	}
}

static void *worker(void *arg)
{
	struct worker *wk = arg;
	uint64_t seed = 1000 + (uint64_t)wk->id;

	while (!atomic_load(&w.stop)) {
		one_io(wk, &seed);
		wk->iters++;
	}
	return NULL;
}

/* ---- the registrar ---- */

static void *registrar(void *arg)
{
	struct dmk_region *r[NOTHER] = { 0 };
	uint64_t seed = 77;

	(void)arg;
	while (!atomic_load(&w.stop)) {
		size_t k = rnd(&seed) % NOTHER;
		int err;

		if (r[k]) {
			err = dmk_region_unregister(r[k]);
			CHECK(!err, "registrar: unregister: %d %s", err, dmk_last_error());
			r[k] = NULL;
		} else {
			char *va;
			size_t len;

			if (k & 1) {
				/* its own memory, 1 to 8 pages, any offset */
				va = w.other + (k / 2) * 8 * PG + rnd(&seed) % PG;
				len = 1 + rnd(&seed) % (7 * PG);
			} else {
				/* straddles the end of a worker's buffer into the gap after it */
				char *end = w.wbuf[(k / 2) % NWORKERS] + WORKER_PAGES * PG;

				va = end - PG * (1 + rnd(&seed) % 3) + rnd(&seed) % 64;
				len = 1 + rnd(&seed) % (3 * PG);
			}
			err = dmk_region_register(w.sp, va, len, DMK_PROT_RW, &r[k]);
			CHECK(!err, "registrar: register: %d %s", err, dmk_last_error());
			if (err)
				r[k] = NULL;
		}
		if (!(atomic_fetch_add(&w.reg_ops, 1) & 15))
			sched_yield();	/* let the unregistrar at the space lock too */
	}
	for (size_t k = 0; k < NOTHER; k++)
		if (r[k])
			CHECK(!dmk_region_unregister(r[k]), "registrar: final unregister: %s", dmk_last_error());
	return NULL;
}

/* ---- toggler and unregistrar ---- */

enum { T_IDLE, T_PREPARED, T_CHECKED, T_COMPLETED, T_REREGISTERED, T_DONE };

static bool wait_for(int state)
{
	while (atomic_load(&w.toggle) != state) {
		if (atomic_load(&w.toggle) == T_DONE)
			return false;
		sched_yield();
	}
	return true;
}

static void *toggler(void *arg)
{
	struct dmk_dma *d = arg;
	uint64_t cov = 0;

	while (!atomic_load(&w.stop)) {
		int err = dmk_dma_prepare_buf(d, w.T + 100, 2 * PG - 200, DMK_TO_DEVICE, &cov);

		CHECK(!err && cov == 2 * PG - 200, "toggler: prepare: %d %s", err, dmk_last_error());
		if (err)
			break;
		struct iovec iov = { w.T + 100, 2 * PG - 200 };
		verify(d, &iov, 1, 0, cov, "toggler");
		atomic_store(&w.toggle, T_PREPARED);
		if (!wait_for(T_CHECKED))
			break;
		CHECK(!dmk_dma_complete(d), "toggler: complete");
		atomic_store(&w.toggle, T_COMPLETED);
		if (!wait_for(T_REREGISTERED))
			break;
	}
	if (dmk_dma_segs(d, &(size_t){ 0 }))
		dmk_dma_complete(d);
	atomic_store(&w.toggle, T_DONE);
	return NULL;
}

static void *unregistrar(void *arg)
{
	(void)arg;
	/* A thread's first message is empty. */
	CHECK(!strcmp(dmk_last_error(), ""), "fresh thread sees '%s'", dmk_last_error());
	for (;;) {
		int st = atomic_load(&w.toggle), err;

		if (st == T_DONE)
			break;
		/* S is prepared on by a command for the whole run. */
		err = dmk_region_unregister(w.sreg);
		CHECK(err == -EBUSY, "unregistering S (in use all along) gave %d", err);
		if (err == -EBUSY)
			CHECK(strstr(dmk_last_error(), "used by a prepared DMA command"),
			      "unregistrar: reason '%s'", dmk_last_error());
		atomic_fetch_add(&w.s_busy, 1);
		if (st == T_PREPARED) {
			err = dmk_region_unregister(w.treg);
			CHECK(err == -EBUSY, "unregistering T while prepared on gave %d", err);
			atomic_fetch_add(&w.t_busy, 1);
			atomic_store(&w.toggle, T_CHECKED);
		} else if (st == T_COMPLETED) {
			err = dmk_region_unregister(w.treg);
			CHECK(err == 0, "unregistering T after complete gave %d: %s", err, dmk_last_error());
			if (!err) {
				uint64_t dev;

				CHECK(dmk_space_translate(w.sp, w.T + PG, &dev) == -EFAULT,
				      "T still translates after its unregister");
				err = dmk_region_register(w.sp, w.T, 2 * PG, DMK_PROT_READ, &w.treg);
				CHECK(!err, "re-registering T: %s", dmk_last_error());
			}
			atomic_fetch_add(&w.t_ok, 1);
			atomic_store(&w.toggle, T_REREGISTERED);
		} else {
			sched_yield();
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct dmk_sim_config c = { PG, UINT64_C(1) << 32, UINT64_C(1) << 32, DMK_SIM_SCATTERED, 99 };
	/* layout: [worker buffer + 4 gap pages] x N, S, T (2 pages), other (NOTHER/2 x 8 pages) */
	const size_t stride = WORKER_PAGES + 4;
	const size_t npages = NWORKERS * stride + S_PAGES + 2 + (NOTHER / 2) * 8;
	struct worker wk[NWORKERS];
	struct dmk_region *wreg[NWORKERS];
	struct dmk_dma *hold_s, *tcmd;
	pthread_t th[NWORKERS + 3];
	struct dmk_dma_spec any, prp;
	const char *ms = getenv("DMK_THREADS_MS");
	uint64_t run_ms = ms ? strtoull(ms, NULL, 10) : 300, cov;

	(void)state;
	memset(&w, 0, sizeof(w));
	assert_int_equal(dmk_space_sim_create(&c, &w.sp), 0);
	w.area = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(w.area != MAP_FAILED);
	memset(w.area, 0, npages * PG);
	for (int i = 0; i < NWORKERS; i++)
		w.wbuf[i] = w.area + i * stride * PG;
	w.S = w.area + NWORKERS * stride * PG;
	w.T = w.S + S_PAGES * PG;
	w.other = w.T + 2 * PG;

	assert_int_equal(dmk_dma_spec_preset(&any, "any"), 0);
	assert_int_equal(dmk_dma_spec_preset(&prp, "nvme-prp"), 0);
	assert_int_equal(dmk_bounce_pool_create(w.sp, &prp, POOL_CHUNKS * PG, &w.pool), 0);
	for (size_t k = 0; k < POOL_CHUNKS; k++)
		assert_int_equal(dmk_space_translate(w.sp, w.pool->mem + k * PG, &w.chunk_dev[k]), 0);

	for (int i = 0; i < NWORKERS; i++) {
		assert_int_equal(dmk_region_register(w.sp, w.wbuf[i], WORKER_PAGES * PG, DMK_PROT_RW, &wreg[i]), 0);
		for (size_t pg = 0; pg < WORKER_PAGES; pg++)
			assert_int_equal(dmk_space_translate(w.sp, w.wbuf[i] + pg * PG, &w.wdev[i][pg]), 0);
	}
	assert_int_equal(dmk_region_register(w.sp, w.S, S_PAGES * PG, DMK_PROT_RW, &w.sreg), 0);
	assert_int_equal(dmk_region_register(w.sp, w.T, 2 * PG, DMK_PROT_READ, &w.treg), 0);

	/* S stays prepared on for the whole run. */
	assert_int_equal(dmk_dma_create(w.sp, &any, NULL, &hold_s), 0);
	assert_int_equal(dmk_dma_prepare_buf(hold_s, w.S + 4 * PG * NWORKERS - 10, 10, DMK_TO_DEVICE, &cov), 0);
	assert_int_equal(dmk_dma_create(w.sp, &any, NULL, &tcmd), 0);

	for (int i = 0; i < NWORKERS; i++) {
		wk[i] = (struct worker){ .id = i };
		switch (i % 4) {
		case 0:
			wk[i].spec = prp;	/* page list, bounces misaligned pieces */
			break;
		case 1:
			wk[i].spec = prp;
			wk[i].spec.max_segs = 3;	/* partial, resumed */
			break;
		case 2:
			wk[i].spec = any;
			wk[i].spec.boundary = PG;
			wk[i].spec.max_transfer = 5 * PG;
			break;
		default:
			wk[i].spec = any;
			wk[i].spec.max_seg_size = 3000;
			wk[i].spec.max_segs = 4;
			break;
		}
		assert_int_equal(dmk_dma_create(w.sp, &wk[i].spec, w.pool, &wk[i].d), 0);
	}

	atomic_store(&w.toggle, T_IDLE);
	for (int i = 0; i < NWORKERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, &wk[i]), 0);
	assert_int_equal(pthread_create(&th[NWORKERS], NULL, registrar, NULL), 0);
	assert_int_equal(pthread_create(&th[NWORKERS + 1], NULL, toggler, tcmd), 0);
	assert_int_equal(pthread_create(&th[NWORKERS + 2], NULL, unregistrar, NULL), 0);

	uint64_t t0 = now_ns();
	while (now_ns() - t0 < run_ms * 1000000u && atomic_load(&failures) == 0) {
		struct timespec ts = { 0, 10 * 1000000 };

		nanosleep(&ts, NULL);
	}
	atomic_store(&w.stop, true);
	for (int i = 0; i < NWORKERS + 3; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);

	print_message("%ld prepares (%ld bounced, %ld -ENOBUFS retries, %ld -EFAULT retries on S), %ld registrar ops, "
		      "S busy %ld times, T busy %ld / freed %ld\n",
		      atomic_load(&w.prepares), atomic_load(&w.bounced_preps), atomic_load(&w.enobufs),
		      atomic_load(&w.spurious),
		      atomic_load(&w.reg_ops), atomic_load(&w.s_busy), atomic_load(&w.t_busy),
		      atomic_load(&w.t_ok));
	if (atomic_load(&failures))
		fail_msg("%d failures; first: %s", atomic_load(&failures), first_msg);
	for (int i = 0; i < NWORKERS; i++)
		assert_true(wk[i].iters > 0);
	assert_true(atomic_load(&w.s_busy) > 0);
	assert_true(atomic_load(&w.t_busy) > 0);
	assert_true(atomic_load(&w.t_ok) > 0);
	assert_true(atomic_load(&w.bounced_preps) > 0);
	assert_true(atomic_load(&w.reg_ops) > 0);

	/* Still -EBUSY for S; after the holder completes, it goes. */
	assert_int_equal(dmk_region_unregister(w.sreg), -EBUSY);
	assert_int_equal(dmk_dma_complete(hold_s), 0);
	assert_int_equal(dmk_region_unregister(w.sreg), 0);

	struct dmk_bounce_stats st;
	assert_int_equal(dmk_bounce_pool_stats(w.pool, &st), 0);
	assert_int_equal(st.in_use, 0);
	assert_true(st.peak <= POOL_CHUNKS * PG);
	assert_true(st.bounced > 0);

	for (int i = 0; i < NWORKERS; i++) {
		assert_int_equal(dmk_dma_destroy(wk[i].d), 0);
		assert_int_equal(dmk_region_unregister(wreg[i]), 0);
	}
	assert_int_equal(dmk_dma_destroy(hold_s), 0);
	assert_int_equal(dmk_dma_destroy(tcmd), 0);
	assert_int_equal(dmk_region_unregister(w.treg), 0);
	assert_int_equal(dmk_bounce_pool_destroy(w.pool), 0);
	assert_int_equal(dmk_space_destroy(w.sp), 0);
	assert_int_equal(munmap(w.area, npages * PG), 0);
}

/* dmk_last_error() is per thread: another thread's failures do not show. */
static void *fail_other(void *arg)
{
	struct dmk_dma_spec s;

	(void)arg;
	dmk_dma_spec_init(&s);
	s.addr_align = 3;
	for (int i = 0; i < 1000; i++)
		if (dmk_dma_spec_check(&s) != -EINVAL || !strstr(dmk_last_error(), "address alignment 3"))
			return (void *)1;
	return NULL;
}

static void test_last_error_per_thread(void **state)
{
	struct dmk_dma_spec s;
	pthread_t t;
	void *ret = (void *)2;

	(void)state;
	dmk_dma_spec_init(&s);
	s.len_align = 6;
	assert_int_equal(dmk_dma_spec_check(&s), -EINVAL);
	assert_int_equal(pthread_create(&t, NULL, fail_other, NULL), 0);
	for (int i = 0; i < 1000; i++)
		assert_non_null(strstr(dmk_last_error(), "length alignment 6"));
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_non_null(strstr(dmk_last_error(), "length alignment 6"));
}

/*
 * Hand-off: X = pages [2, 6) is registered, then A = pages [0, 4); pages 2
 * and 3 translate through X, the older. Unregistering X hands them to A.
 * They are registered all along, so space.h's "a lookup that races with
 * dmk_region_unregister() of the same memory may see either state" means
 * a lookup sees X's address or A's, never "no page registered".
 */
static struct {
	struct dmk_space *sp;
	char *p;
	atomic_uint gen;		/* odd while A lives */
	_Atomic uint64_t xdev, adev;	/* page 2's address through X, through A */
	atomic_uint seen;		/* the odd gen the reader is probing in */
	atomic_bool stop;
	atomic_long lookups, misses, wrong, rounds;
} h;

/* Two CPUs when there are: the reader probes while the writer unregisters. */
static void pin(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *handoff_writer(void *arg)
{
	(void)arg;
	pin(0);
	while (!atomic_load(&h.stop)) {
		struct dmk_region *x, *a;
		uint64_t dev;

		if (dmk_region_register(h.sp, h.p + 2 * PG, 4 * PG, DMK_PROT_RW, &x) ||
		    dmk_space_translate(h.sp, h.p + 4 * PG, &dev)) {
			failf("handoff: register X: %s", dmk_last_error());
			break;
		}
		atomic_store(&h.xdev, dev - 2 * PG);
		if (dmk_region_register(h.sp, h.p, 4 * PG, DMK_PROT_RW, &a) ||
		    dmk_space_translate(h.sp, h.p, &dev)) {
			failf("handoff: register A: %s", dmk_last_error());
			break;
		}
		atomic_store(&h.adev, dev + 2 * PG);
		unsigned g = atomic_fetch_add(&h.gen, 1) + 1;	/* odd: page 2 is registered until the next change */
		for (int spin = 0; spin < 100000 && atomic_load(&h.seen) != g; spin++)
			if (!(spin & 255))
				sched_yield();
		CHECK(!dmk_region_unregister(x), "handoff: unregister X: %s", dmk_last_error());
		atomic_fetch_add(&h.gen, 1);
		CHECK(!dmk_region_unregister(a), "handoff: unregister A: %s", dmk_last_error());
		atomic_fetch_add(&h.rounds, 1);
	}
	return NULL;
}

static void *handoff_reader(void *arg)
{
	(void)arg;
	pin(1);
	for (unsigned long i = 0; !atomic_load(&h.stop); i++) {
		unsigned g1 = atomic_load(&h.gen);
		uint64_t dev = 0, xd = atomic_load(&h.xdev), ad = atomic_load(&h.adev);
		int err;

		if (!(i & 1023))
			sched_yield();	/* on a shared CPU, let the writer run */
		if (!(g1 & 1))
			continue;
		atomic_store(&h.seen, g1);
		err = dmk_space_translate(h.sp, h.p + 2 * PG + 100, &dev);
		if (atomic_load(&h.gen) != g1)
			continue;
		atomic_fetch_add(&h.lookups, 1);
		if (err)
			atomic_fetch_add(&h.misses, 1);
		else if (dev != xd + 100 && dev != ad + 100)
			atomic_fetch_add(&h.wrong, 1);
	}
	return NULL;
}

static void test_handoff_translation(void **state)
{
	const char *ms = getenv("DMK_THREADS_MS");
	uint64_t run_ms = ms ? strtoull(ms, NULL, 10) : 300;
	pthread_t wt, rt;

	(void)state;
	memset(&h, 0, sizeof(h));
	atomic_store(&failures, 0);
	assert_int_equal(dmk_space_sim_create(NULL, &h.sp), 0);
	h.p = mmap(NULL, 6 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(h.p != MAP_FAILED);
	assert_int_equal(pthread_create(&rt, NULL, handoff_reader, NULL), 0);
	assert_int_equal(pthread_create(&wt, NULL, handoff_writer, NULL), 0);
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < run_ms * 1000000u) {
		struct timespec ts = { 0, 10 * 1000000 };

		nanosleep(&ts, NULL);
	}
	atomic_store(&h.stop, true);
	assert_int_equal(pthread_join(wt, NULL), 0);
	assert_int_equal(pthread_join(rt, NULL), 0);
	print_message("%ld hand-offs, %ld lookups while registered: %ld found nothing, %ld wrong\n",
		      atomic_load(&h.rounds), atomic_load(&h.lookups), atomic_load(&h.misses),
		      atomic_load(&h.wrong));
	assert_int_equal(dmk_space_destroy(h.sp), 0);
	assert_int_equal(munmap(h.p, 6 * PG), 0);
	if (atomic_load(&failures))
		fail_msg("%s", first_msg);
	assert_true(atomic_load(&h.rounds) > 0);
	assert_true(atomic_load(&h.lookups) > 0);
	assert_int_equal(atomic_load(&h.wrong), 0);
	assert_int_equal(atomic_load(&h.misses), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_last_error_per_thread),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_handoff_translation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
