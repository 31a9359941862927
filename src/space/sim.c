/* SPDX-License-Identifier: MIT */
/*
 * The sim space: a software IOMMU. It hands out device addresses in a
 * window with a chosen layout, keeps the reverse map (device address ->
 * host memory, permissions) that a simulated device goes through, and logs
 * every access it refuses, as a real IOMMU's fault log would.
 *
 * A window may end exactly at 2^64, so no end address (first byte after a
 * range) is ever computed: ranges are compared by their last byte, and a
 * window never holds both device address 0 and 2^64 - 1 (it is smaller than
 * 2^64), so no range handed out wraps.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmakit/error.h>
#include <dmakit/space.h>

#include "../core/error_priv.h"
#include "../core/nofault_priv.h"
#include "space_priv.h"

#define FAULT_LOG 256

/* One device-contiguous piece of host memory the device may touch. */
struct extent {
	uint64_t dev;
	uint64_t len;
	uintptr_t host;
	unsigned prot;
	bool foreign;		/* its region's: copied by the kernel */
};

struct sim {
	struct dmk_sim_config cfg;
	pthread_rwlock_t lock;		/* extents and faults */
	struct extent *ext;		/* sorted by dev, never overlapping */
	size_t next, cap;
	uint64_t rng;
	struct dmk_sim_fault faults[FAULT_LOG];
	size_t fault_head, nfaults;
};

static const struct dmk_space_ops sim_ops;

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: good enough to scatter pages, and repeatable. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The last device address of an extent (never empty). */
static inline uint64_t ext_last(const struct extent *e)
{
	return e->dev + (e->len - 1);
}

/* Index of the first extent whose last byte is at or after @dev. */
static size_t ext_search(const struct sim *s, uint64_t dev)
{
	size_t lo = 0, hi = s->next;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ext_last(&s->ext[mid]) < dev)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether [@dev, @dev + @len) is free; it lies in the window. */
static bool ext_free(const struct sim *s, uint64_t dev, uint64_t len)
{
	size_t i = ext_search(s, dev);

	return i == s->next || s->ext[i].dev > dev + (len - 1);
}

static int ext_insert(struct sim *s, const struct extent *e)
{
	size_t i;

	if (s->next == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct extent *n = realloc(s->ext, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->ext = n;
		s->cap = cap;
	}
	i = ext_search(s, e->dev);
	memmove(&s->ext[i + 1], &s->ext[i], (s->next - i) * sizeof(*e));
	s->ext[i] = *e;
	s->next++;
	return 0;
}

/* Remove the extent that starts at device address @dev. */
static void ext_remove(struct sim *s, uint64_t dev)
{
	size_t i = ext_search(s, dev);

	if (i < s->next && s->ext[i].dev == dev) {
		memmove(&s->ext[i], &s->ext[i + 1], (s->next - i - 1) * sizeof(s->ext[0]));
		s->next--;
	}
}

/*
 * Remove the extents of @r's first @npages sim pages. A region that is not
 * linear has one extent a sim page, starting at the device address of the
 * first host page it holds.
 */
static void ext_remove_region(struct sim *s, const struct dmk_region *r, uint64_t npages)
{
	uint64_t page = s->cfg.page_size;
	uintptr_t first = align_down(r->pva, page);

	if (r->linear) {
		ext_remove(s, r->dev_base);
		return;
	}
	for (uint64_t i = 0; i < npages; i++) {
		uintptr_t lo = max_u64(first + i * page, r->pva);

		ext_remove(s, r->pages[(lo - r->pva) / DMK_HOST_PAGE]);
	}
}

/*
 * The first page after the one holding @last, or false when that page is
 * the window's last (the next would be past it, maybe at 2^64).
 */
static bool page_after(const struct sim *s, uint64_t last, uint64_t *next)
{
	uint64_t page = s->cfg.page_size;
	uint64_t wlast_page = s->cfg.window_base + (s->cfg.window_size - page);

	if (align_down(last, page) >= wlast_page)
		return false;
	*next = align_down(last, page) + page;
	return true;
}

/*
 * First free run of @len bytes (a multiple of the page) in the window. A
 * gap [cand, gap) holds it when gap - cand >= len; the gap after the last
 * extent ends with the window, compared by last bytes: its end may be 2^64.
 */
static int find_run(struct sim *s, uint64_t len, uint64_t *dev)
{
	uint64_t wlast = s->cfg.window_base + (s->cfg.window_size - 1);
	uint64_t cand = s->cfg.window_base;
	bool room = true;	/* cand is in the window */

	/* Usually the space after the last extent is free: try it first. */
	if (s->next && page_after(s, ext_last(&s->ext[s->next - 1]), &cand) && wlast - cand >= len - 1) {
		*dev = cand;
		return 0;
	}
	cand = s->cfg.window_base;
	for (size_t i = 0; i <= s->next; i++) {
		if (room && i < s->next) {
			uint64_t gap = align_down(s->ext[i].dev, s->cfg.page_size);

			if (gap >= cand && gap - cand >= len) {
				*dev = cand;
				return 0;
			}
		} else if (room && wlast - cand >= len - 1) {
			*dev = cand;
			return 0;
		}
		if (i < s->next)
			room = page_after(s, ext_last(&s->ext[i]), &cand);
	}
	return -ENOSPC;
}

static int random_page(struct sim *s, uint64_t *dev)
{
	uint64_t pages = s->cfg.window_size / s->cfg.page_size;

	for (int tries = 0; tries < 64; tries++) {
		uint64_t d = s->cfg.window_base + (rng_next(&s->rng) % pages) * s->cfg.page_size;

		if (ext_free(s, d, s->cfg.page_size)) {
			*dev = d;
			return 0;
		}
	}
	return -ENOSPC;
}

static int sim_map(struct dmk_space *sp, struct dmk_region *r)
{
	struct sim *s = sp->priv;
	uint64_t page = s->cfg.page_size;
	uintptr_t first = align_down(r->pva, page);
	uint64_t npages = (align_up(r->pva + r->plen, page) - first) / page;
	uint64_t base = 0;
	int err = 0;

	/*
	 * Pin nothing, but refuse what a real pin refuses (region.h: -EFAULT
	 * when the range is not mapped): a simulated device would otherwise
	 * copy into unmapped memory. msync(MS_ASYNC) fails with ENOMEM on
	 * any unmapped part, as in the phys space.
	 */
	if (msync((void *)r->pva, r->plen, MS_ASYNC) && errno == ENOMEM)
		return dmki_fail(-EFAULT, "[%#" PRIxPTR ", +%zu) is not mapped in the process", r->pva, r->plen);
	pthread_rwlock_wrlock(&s->lock);
	if (s->cfg.layout != DMK_SIM_SCATTERED) {
		err = find_run(s, npages * page, &base);
		if (err)
			goto out;
	}
	if (s->cfg.layout == DMK_SIM_CONTIG) {
		struct extent e = { base + (r->pva - first), r->plen, r->pva, r->prot, r->foreign };

		r->linear = true;
		r->dev_base = e.dev;
		r->dev_runs = 1;
		err = ext_insert(s, &e);
		goto out;
	}
	r->pages = malloc((r->plen / DMK_HOST_PAGE) * sizeof(uint64_t));
	if (!r->pages) {
		err = -ENOMEM;
		goto out;
	}
	r->dev_runs = 0;
	uint64_t i;
	for (i = 0; i < npages; i++) {
		uintptr_t lo = max_u64(first + i * page, r->pva);
		uintptr_t hi = min_u64(first + (i + 1) * page, r->pva + r->plen);
		struct extent e;
		uint64_t d;

		if (s->cfg.layout == DMK_SIM_REVERSED)
			d = base + (npages - 1 - i) * page;
		else if ((err = random_page(s, &d)))
			break;
		e = (struct extent){ d + (lo - (first + i * page)), hi - lo, lo, r->prot, r->foreign };
		if ((err = ext_insert(s, &e)))
			break;
		for (uintptr_t va = lo; va < hi; va += DMK_HOST_PAGE)
			r->pages[(va - r->pva) / DMK_HOST_PAGE] = e.dev + (va - lo);
		if (i == 0 || r->pages[(lo - r->pva) / DMK_HOST_PAGE] !=
				      r->pages[(lo - r->pva) / DMK_HOST_PAGE - 1] + DMK_HOST_PAGE)
			r->dev_runs++;
	}
	if (err) {
		ext_remove_region(s, r, i);
		free(r->pages);
		r->pages = NULL;
	}
out:
	pthread_rwlock_unlock(&s->lock);
	if (err == -ENOSPC)
		return dmki_fail(err, "sim window [%#" PRIx64 ", +%#" PRIx64 ") has no room for %zu bytes",
				 s->cfg.window_base, s->cfg.window_size, r->plen);
	if (err)
		return dmki_fail(err, "out of memory registering %zu bytes in a sim space", r->plen);
	return 0;
}

static void sim_unmap(struct dmk_space *sp, struct dmk_region *r)
{
	struct sim *s = sp->priv;

	uint64_t page = s->cfg.page_size;

	pthread_rwlock_wrlock(&s->lock);
	ext_remove_region(s, r, (align_up(r->pva + r->plen, page) - align_down(r->pva, page)) / page);
	pthread_rwlock_unlock(&s->lock);
}

static void sim_destroy(struct dmk_space *sp)
{
	struct sim *s = sp->priv;

	pthread_rwlock_destroy(&s->lock);
	free(s->ext);
	free(s);
}

static const struct dmk_space_ops sim_ops = {
	.kind = "sim",
	.map = sim_map,
	.unmap = sim_unmap,
	.destroy = sim_destroy,
};

int dmk_space_sim_create(const struct dmk_sim_config *cfg, struct dmk_space **out)
{
	struct dmk_sim_config c = {
		.page_size = 4096,
		.window_base = UINT64_C(1) << 32,
		.window_size = (UINT64_C(1) << 47) - (UINT64_C(1) << 32),
		.layout = DMK_SIM_CONTIG,
		.seed = 1,
	};
	struct sim *s;
	int err;

	if (!out)
		return dmki_fail(-EINVAL, "no place for the space");
	if (cfg)
		c = *cfg;
	if (!is_pow2(c.page_size) || c.page_size < 4096 || c.page_size > (UINT64_C(1) << 30))
		return dmki_fail(-EINVAL, "sim page size %" PRIu64 " is not a power of two from 4 KiB to 1 GiB",
				 c.page_size);
	if (c.window_base % c.page_size || c.window_size % c.page_size || !c.window_size)
		return dmki_fail(-EINVAL, "sim window [%#" PRIx64 ", +%#" PRIx64 ") is empty or not page aligned",
				 c.window_base, c.window_size);
	/* It may end at 2^64 exactly: its last byte is 2^64 - 1. */
	if (c.window_size - 1 > UINT64_MAX - c.window_base)
		return dmki_fail(-EINVAL, "sim window [%#" PRIx64 ", +%#" PRIx64 ") wraps past 2^64",
				 c.window_base, c.window_size);
	if (c.layout != DMK_SIM_CONTIG && c.layout != DMK_SIM_SCATTERED && c.layout != DMK_SIM_REVERSED)
		return dmki_fail(-EINVAL, "unknown sim layout %d", (int)c.layout);
	s = calloc(1, sizeof(*s));
	if (!s)
		return dmki_fail(-ENOMEM, "out of memory for a sim space");
	s->cfg = c;
	s->rng = c.seed;
	pthread_rwlock_init(&s->lock, NULL);
	err = dmki_space_new(&sim_ops, s, out);
	if (err) {
		pthread_rwlock_destroy(&s->lock);
		free(s);
	}
	return err;
}

static struct sim *sim_of(struct dmk_space *sp)
{
	return sp && sp->ops == &sim_ops ? sp->priv : NULL;
}

static void log_fault(struct sim *s, uint64_t dev, uint64_t len, int write, const char *why)
{
	size_t slot = (s->fault_head + s->nfaults) % FAULT_LOG;

	s->faults[slot] = (struct dmk_sim_fault){ dev, len, write, why };
	if (s->nfaults < FAULT_LOG)
		s->nfaults++;
	else
		s->fault_head = (s->fault_head + 1) % FAULT_LOG;
}

/*
 * Copy the @len bytes at device address @dev between the extents from @i on
 * and @buf, up to DMKI_NOFAULT_IOV extents a kernel copy (nofault_priv.h):
 * for foreign memory (dmki_region_register_foreign()), whose pages may be
 * gone, where a load or store would raise SIGBUS. Counted in bytes done,
 * as the access may end at 2^64.
 */
static int copy_nofault(struct sim *s, size_t i, uint64_t dev, size_t len, char *buf,
			int write)
{
	uint64_t d = dev, done = 0;
	int err = 0;

	while (done < len && !err) {
		struct iovec host[DMKI_NOFAULT_IOV], mine;
		uint64_t start = done;
		unsigned k = 0;

		for (; done < len && k < DMKI_NOFAULT_IOV; i++, k++) {
			uint64_t off = d - s->ext[i].dev, n = min_u64(s->ext[i].len - off, len - done);

			host[k].iov_base = (char *)s->ext[i].host + off;
			host[k].iov_len = n;
			done += n;
			d += n;
		}
		mine.iov_base = buf + start;
		mine.iov_len = (size_t)(done - start);
		err = write ? dmki_copy_nofault(host, k, &mine, 1) : dmki_copy_nofault(&mine, 1, host, k);
	}
	return err;
}

/*
 * Check the whole access first, so that a fault moves no byte at all, then
 * copy extent by extent: with memcpy(), or with the kernel when an extent
 * is foreign. Foreign memory that cannot be faulted in (a hole in a
 * client's hugetlbfs file with the pool empty) is logged as a fault and
 * fails the access with -EFAULT, the bytes before it moved.
 */
static int sim_access(struct dmk_space *sp, uint64_t dev, void *buf, size_t len, int write)
{
	struct sim *s = sim_of(sp);
	unsigned need = write ? DMK_PROT_WRITE : DMK_PROT_READ;
	const char *why = NULL;
	uint64_t d = dev, last, done;
	bool foreign = false;
	size_t i;
	int err = 0;

	if (!s)
		return dmki_fail(-EINVAL, "not a sim space");
	if (!len)
		return 0;
	pthread_rwlock_wrlock(&s->lock);
	/* By last byte: an access may end at 2^64, none may go past it. */
	last = dev + (len - 1);
	if (len - 1 > UINT64_MAX - dev)
		why = "not mapped";
	for (i = ext_search(s, d); !why; i++) {
		if (i >= s->next || s->ext[i].dev > d) {
			why = "not mapped";
		} else if (!(s->ext[i].prot & need)) {
			why = write ? "no write permission" : "no read permission";
		} else {
			foreign |= s->ext[i].foreign;
			if (ext_last(&s->ext[i]) >= last)
				break;
			d = ext_last(&s->ext[i]) + 1;
		}
	}
	if (why) {
		log_fault(s, dev, len, write, why);
		pthread_rwlock_unlock(&s->lock);
		return dmki_fail(-EFAULT, "sim IOMMU fault: device %s %zu bytes at %#" PRIx64 ": %s",
				 write ? "wrote" : "read", len, dev, why);
	}
	if (foreign) {
		err = copy_nofault(s, ext_search(s, dev), dev, len, buf, write);
	} else {
		/* Counted in bytes done: d passes 2^64 (to 0) only after the last one. */
		for (done = 0, d = dev, i = ext_search(s, d); done < len; i++) {
			uint64_t off = d - s->ext[i].dev, n = min_u64(s->ext[i].len - off, len - done);
			char *host = (char *)s->ext[i].host + off;

			if (write)
				memcpy(host, (const char *)buf + done, n);
			else
				memcpy((char *)buf + done, host, n);
			done += n;
			d += n;
		}
	}
	if (err) {
		char cause[200];

		snprintf(cause, sizeof(cause), "%s", dmk_last_error());
		log_fault(s, dev, len, write, "host page faulted");
		err = dmki_fail(err, "sim device: %s %zu bytes at %#" PRIx64 ": %s",
				write ? "wrote" : "read", len, dev, cause);
	}
	pthread_rwlock_unlock(&s->lock);
	return err;
}

int dmk_sim_dma_write(struct dmk_space *sp, uint64_t dev, const void *src, size_t len)
{
	return sim_access(sp, dev, (void *)src, len, 1);
}

int dmk_sim_dma_read(struct dmk_space *sp, uint64_t dev, void *dst, size_t len)
{
	return sim_access(sp, dev, dst, len, 0);
}

int dmk_sim_faults(struct dmk_space *sp, struct dmk_sim_fault *faults, size_t max, size_t *count)
{
	struct sim *s = sim_of(sp);
	size_t n = 0;

	if (!s || !count)
		return dmki_fail(-EINVAL, "not a sim space, or no place for the count");
	pthread_rwlock_wrlock(&s->lock);
	while (n < max && s->nfaults) {
		faults[n++] = s->faults[s->fault_head];
		s->fault_head = (s->fault_head + 1) % FAULT_LOG;
		s->nfaults--;
	}
	pthread_rwlock_unlock(&s->lock);
	*count = n;
	return 0;
}
