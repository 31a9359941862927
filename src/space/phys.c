/* SPDX-License-Identifier: MIT */
/*
 * The "phys" space: no IOMMU, the device sees physical addresses.
 *
 * A registration locks its pages with mlock() and reads their frames from
 * /proc/self/pagemap, one pread() for many entries, on a file opened once.
 * This is what uio_pci_generic drivers have; it needs root.
 *
 * What the kernel does and does not promise, and what this file does about it:
 *
 * - Which frame a page has before it is written is the kernel's choice:
 *   the shared zero page on most kernels, a frame of its own on some, and
 *   the rules for pinning such pages changed between versions. fault.c
 *   write-faults every page the process may write (MADV_POPULATE_WRITE)
 *   before it is pinned, so the frame read afterwards is the one the process
 *   keeps writing to. The io_uring pin write-faults by itself (FOLL_WRITE);
 *   that is probed when the space is made (phys_pin_writes()), and only
 *   then are the pages left to it, which halves the cost of a registration.
 *   Where the device may write but the process may not (a read-only
 *   mapping: the zero page, a file's page cache), the
 *   registration is refused there, from the mapping's permissions, never
 *   from a guess at the zero page's frame. Read-only memory the device
 *   only reads may be the zero page: the device then reads the zeros the
 *   process reads.
 * - Kernels without MADV_POPULATE_WRITE (before 5.14) cannot be asked
 *   whether a mapping is writable: registrations the device may write then
 *   need the io_uring pin, which pins for writing and is refused on a
 *   read-only mapping; mlock alone cannot tell and is refused for them.
 * - The kernel does not count mlock(): one munlock() unlocks a page however
 *   many registrations locked it. Registrations overlap whenever two heap
 *   buffers share a page, so the space keeps lock counts over page ranges
 *   (a treap of disjoint extents) and unmap() unlocks only the pages whose
 *   count falls to zero.
 * - Locked pages do not go to swap, but the kernel may still migrate them
 *   (compaction, with vm.compact_unevictable_allowed = 1, the default;
 *   NUMA balancing; memory hot-unplug), and a fork() followed by a write
 *   from the parent moves the parent to a copy. None of this can be
 *   prevented from user space without an IOMMU or a kernel pin; it is why
 *   phys is for test beds and uio_pci_generic, and vfio for the rest.
 * - The pagemap file shows the mm of the process that opened it, so a
 *   space is refused in a forked child.
 */
#include <errno.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <dmakit/space.h>

#include "../core/error_priv.h"
#include "fault.h"
#include "pin.h"
#include "space_priv.h"

/* /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_PFN_MASK ((1ull << 55) - 1)
#define PM_ENTRY 8

/*
 * Entries per pread(). The kernel walks 512 entries at a time internally
 * whatever the size; a larger read only saves syscalls (about 6 ns a page
 * from 4096 entries up, 8 to 10 ns at 512 here).
 */
#define PHYS_READ_ENTRIES 65536

/* Spare extents kept beyond what live registrations may need. */
#define PHYS_SPARE_SLACK 64

/*
 * struct dmki_lock_ext - pages [@start, @end) locked by @count registrations
 *
 * Extents are disjoint and ordered by @start in a treap (@prio a heap).
 */
struct dmki_lock_ext {
	uintptr_t start;
	uintptr_t end;
	unsigned long count;
	uint32_t prio;
	struct dmki_lock_ext *l, *r;
};

struct dmki_phys {
	int fd;				/* /proc/self/pagemap of @pid */
	pid_t pid;
	/* Below: under the space's lock (map and unmap run under it). */
	struct dmki_lock_ext *root;
	struct dmki_lock_ext *spare;	/* free extents, linked through ->r */
	size_t nspare;
	size_t nlive;			/* registrations counted in the treap */
	uint32_t rng;
	struct dmki_pin pin;		/* long-term pins, when io_uring allows */
	bool pin_writes;		/* the pin write-faults what it pins */
};

/* ---- lock counts ---- */

static uint32_t phys_rand(struct dmki_phys *ps)
{
	/* xorshift32: treap priorities need only be unpredictable to the shape */
	uint32_t x = ps->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	ps->rng = x;
	return x;
}

static struct dmki_lock_ext *ext_take(struct dmki_phys *ps, uintptr_t start, uintptr_t end,
				      unsigned long count)
{
	struct dmki_lock_ext *x = ps->spare;

	/* ext_reserve() made sure there is one */
	ps->spare = x->r;
	ps->nspare--;
	x->start = start;
	x->end = end;
	x->count = count;
	x->prio = phys_rand(ps);
	x->l = x->r = NULL;
	return x;
}

static void ext_give(struct dmki_phys *ps, struct dmki_lock_ext *x)
{
	x->l = NULL;
	x->r = ps->spare;
	ps->spare = x;
	ps->nspare++;
}

/* @lo gets the extents starting before @key, @hi the others. */
static void ext_split(struct dmki_lock_ext *t, uintptr_t key, struct dmki_lock_ext **lo,
		      struct dmki_lock_ext **hi)
{
	if (!t) {
		*lo = *hi = NULL;
	} else if (t->start < key) {
		ext_split(t->r, key, &t->r, hi);
		*lo = t;
	} else {
		ext_split(t->l, key, lo, &t->l);
		*hi = t;
	}
}

/* Every extent of @a lies before every extent of @b. */
static struct dmki_lock_ext *ext_merge(struct dmki_lock_ext *a, struct dmki_lock_ext *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (a->prio > b->prio) {
		a->r = ext_merge(a->r, b);
		return a;
	}
	b->l = ext_merge(a, b->l);
	return b;
}

static struct dmki_lock_ext *ext_last(struct dmki_lock_ext *t)
{
	while (t && t->r)
		t = t->r;
	return t;
}

static struct dmki_lock_ext *ext_pop_first(struct dmki_lock_ext **t)
{
	struct dmki_lock_ext *x;

	while ((*t)->l)
		t = &(*t)->l;
	x = *t;
	*t = x->r;	/* the heap order holds: x->r's priorities are below x's */
	x->r = NULL;
	return x;
}

/* Extents that share a page with [a, b). */
static size_t ext_count(const struct dmki_lock_ext *t, uintptr_t a, uintptr_t b)
{
	size_t n;

	if (!t)
		return 0;
	n = t->start < b && t->end > a;
	/* disjoint extents: left of one starting at or before a ends before a */
	if (t->start > a)
		n += ext_count(t->l, a, b);
	if (t->start < b)
		n += ext_count(t->r, a, b);
	return n;
}

/* Move the extents of @t, in order, to the end of the list at *@tail. */
static void ext_flatten(struct dmki_lock_ext *t, struct dmki_lock_ext ***tail)
{
	struct dmki_lock_ext *r;

	if (!t)
		return;
	ext_flatten(t->l, tail);
	r = t->r;
	t->l = t->r = NULL;
	**tail = t;
	*tail = &t->r;
	ext_flatten(r, tail);
}

/*
 * Make sure the next ext_update(+1) over [a, b) and the ext_update(-1) of
 * every live registration can cut and fill extents without allocating:
 * unmap() cannot fail, so its two cuts are paid for at map time.
 */
static int ext_reserve(struct dmki_phys *ps, uintptr_t a, uintptr_t b)
{
	size_t need = 2 * (ps->nlive + 1) + ext_count(ps->root, a, b) + 3;

	while (ps->nspare < need) {
		struct dmki_lock_ext *x = malloc(sizeof(*x));

		if (!x)
			return -ENOMEM;
		ext_give(ps, x);
	}
	return 0;
}

static void ext_trim(struct dmki_phys *ps)
{
	while (ps->nspare > 2 * ps->nlive + PHYS_SPARE_SLACK) {
		struct dmki_lock_ext *x = ps->spare;

		ps->spare = x->r;
		ps->nspare--;
		free(x);
	}
}

/*
 * mlock and munlock straight to the kernel: the sanitizers' runtimes
 * intercept the libc calls and make them do nothing, which would leave the
 * frames unpinned (and absent) in exactly the builds that check us hardest.
 */
static int sys_mlock(uintptr_t a, size_t len)
{
	return (int)syscall(SYS_mlock, a, len);
}

static int sys_munlock(uintptr_t a, size_t len)
{
	return (int)syscall(SYS_munlock, a, len);
}

static void phys_munlock(uintptr_t a, uintptr_t b)
{
	/* Fails only for unmapped pages, which hold no lock to drop anyway. */
	(void)sys_munlock(a, b - a);
}

/*
 * Add @delta (+1 or -1) to the lock count of every page of [a, b), then
 * munlock the pages whose count fell to zero. Neighbours with equal counts
 * are merged so that the treap stays as small as the registrations' edges.
 */
static void ext_update(struct dmki_phys *ps, uintptr_t a, uintptr_t b, long delta)
{
	struct dmki_lock_ext *lo, *mid, *hi, *x, *head = NULL, **tail = &head;
	struct dmki_lock_ext *out = NULL, *prev = NULL;
	uintptr_t cur = a, ua = 0, ub = 0;

	ext_split(ps->root, a, &lo, &hi);
	x = ext_last(lo);
	if (x && x->end > a) {
		/* x straddles a: its part from a on joins the middle */
		hi = ext_merge(ext_take(ps, a, x->end, x->count), hi);
		x->end = a;
	}
	ext_split(hi, b, &mid, &hi);
	x = ext_last(mid);
	if (x && x->end > b) {
		hi = ext_merge(ext_take(ps, b, x->end, x->count), hi);
		x->end = b;
	}
	ext_flatten(mid, &tail);

	/* Walk [a, b) in order; build the new middle as a list through ->r. */
	tail = &out;
	for (x = head;; x = head) {
		struct dmki_lock_ext *y = NULL;

		if (x && x->start == cur) {
			head = x->r;
			x->r = NULL;
			x->count += (unsigned long)delta;
			y = x;
		} else if (cur < (x ? x->start : b)) {
			/* a gap: no lock yet; only an add can meet one */
			if (delta > 0)
				y = ext_take(ps, cur, x ? x->start : b, 1);
			else
				y = NULL;
			cur = x ? x->start : b;
			if (!y)
				continue;
		} else {
			break;
		}
		cur = y->end;
		if (!y->count) {
			if (ub == y->start) {
				ub = y->end;
			} else {
				if (ua != ub)
					phys_munlock(ua, ub);
				ua = y->start;
				ub = y->end;
			}
			ext_give(ps, y);
		} else if (prev && prev->end == y->start && prev->count == y->count) {
			prev->end = y->end;
			ext_give(ps, y);
		} else {
			*tail = y;
			tail = &y->r;
			prev = y;
		}
	}
	if (ua != ub)
		phys_munlock(ua, ub);

	/* Merge the new middle's ends with their neighbours when counts agree. */
	x = ext_last(lo);
	if (out && x && x->end == out->start && x->count == out->count) {
		struct dmki_lock_ext *first = out;

		x->end = first->end;
		out = first->r;
		if (prev == first)
			prev = NULL;
		ext_give(ps, first);
	}
	if (hi) {
		struct dmki_lock_ext *left = prev ? prev : x;

		x = hi;
		while (x->l)
			x = x->l;
		if (left && left->end == x->start && left->count == x->count) {
			left->end = x->end;
			ext_give(ps, ext_pop_first(&hi));
		}
	}

	/* Rebuild: appending in order to a treap is a merge at its right. */
	mid = NULL;
	while (out) {
		x = out;
		out = x->r;
		x->r = NULL;
		mid = ext_merge(mid, x);
	}
	ps->root = ext_merge(ext_merge(lo, mid), hi);
}

/* ---- the backend ---- */

static int phys_read(struct dmki_phys *ps, uint64_t *ent, uintptr_t va, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t k = n - done < PHYS_READ_ENTRIES ? n - done : PHYS_READ_ENTRIES;
		off_t off = (off_t)(((va >> DMK_HOST_PAGE_SHIFT) + done) * PM_ENTRY);
		ssize_t got = pread(ps->fd, ent + done, k * PM_ENTRY, off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return dmki_fail(-errno, "reading /proc/self/pagemap for %#lx: %s",
					 (unsigned long)(va + (done << DMK_HOST_PAGE_SHIFT)),
					 strerror(errno));
		if (got == 0 || got % PM_ENTRY)
			return dmki_fail(-EIO, "short read of /proc/self/pagemap for %#lx (%zd bytes)",
					 (unsigned long)(va + (done << DMK_HOST_PAGE_SHIFT)), got);
		done += (size_t)got / PM_ENTRY;
	}
	return 0;
}

static int phys_mlock_fail(uintptr_t a, size_t len, int err)
{
	struct rlimit rl;

	/*
	 * ENOMEM means either "not mapped" or "over a limit". MS_ASYNC is a
	 * no-op that still checks the range is mapped: it tells which.
	 */
	if (err == ENOMEM && msync((void *)a, len, MS_ASYNC) && errno == ENOMEM)
		return dmki_fail(-EFAULT, "mlock of [%#lx, +%zu): part of the range is not mapped",
				 (unsigned long)a, len);
	if (err == ENOMEM || err == EPERM || err == EAGAIN) {
		if (getrlimit(RLIMIT_MEMLOCK, &rl))
			rl.rlim_cur = RLIM_INFINITY;
		return dmki_fail(-err,
				 "mlock of %zu bytes at %#lx: %s (RLIMIT_MEMLOCK is %lld bytes without "
				 "CAP_IPC_LOCK; too many mappings (vm.max_map_count) also gives ENOMEM)",
				 len, (unsigned long)a, strerror(err),
				 rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur);
	}
	return dmki_fail(-err, "mlock of %zu bytes at %#lx: %s", len, (unsigned long)a,
			 strerror(err));
}

/*
 * Turn the pagemap entries in @pg into physical addresses in place and
 * count the contiguous runs. Return 0 or the index + 1 of a bad entry.
 */
static size_t phys_convert(uint64_t *pg, size_t n, size_t *runs)
{
	uint64_t next = UINT64_MAX;
	size_t i, nr = 0;

	for (i = 0; i < n; i++) {
		uint64_t e = pg[i], pfn = e & PM_PFN_MASK, pa = pfn << DMK_HOST_PAGE_SHIFT;

		if (unlikely((e & (PM_PRESENT | PM_SWAPPED)) != PM_PRESENT || !pfn))
			return i + 1;
		nr += pa != next;
		next = pa + DMK_HOST_PAGE;
		pg[i] = pa;
	}
	*runs = nr;
	return 0;
}

/* Pin @r's pages through io_uring; 0 or a negative errno (then mlock). */
static int phys_pin(struct dmki_phys *ps, struct dmk_region *r)
{
	int err = dmki_pin_pages(&ps->pin, r->pva, r->plen,
				 (struct dmki_pinned **)&r->backend_priv);

	if (err)
		r->backend_priv = NULL;
	return err;
}

/* Drop the pin or the lock that phys_map() took on @r's pages. */
static void phys_release(struct dmki_phys *ps, struct dmk_region *r)
{
	if (r->backend_priv) {
		dmki_unpin_pages(&ps->pin, r->backend_priv);
		r->backend_priv = NULL;
		return;
	}
	ps->nlive--;
	ext_update(ps, r->pva, r->pva + r->plen, -1);
	ext_trim(ps);
}

static int phys_map(struct dmk_space *sp, struct dmk_region *r)
{
	struct dmki_phys *ps = sp->priv;
	uintptr_t a = r->pva, b = r->pva + r->plen;
	size_t n = r->plen >> DMK_HOST_PAGE_SHIFT, bad, runs = 0;
	bool writable, pinned;
	uint64_t *pg;
	int err;

	if (unlikely(getpid() != ps->pid))
		return dmki_fail(-EINVAL, "this phys space belongs to process %d, its pagemap "
				 "is not ours: create a space in the child", (int)ps->pid);
	if (ext_reserve(ps, a, b))
		return dmki_fail(-ENOMEM, "out of memory for lock counts");
	pg = malloc(n * sizeof(*pg));
	if (!pg)
		return dmki_fail(-ENOMEM, "out of memory for %zu page addresses", n);

	/*
	 * A long-term pin (pin.c) where io_uring allows it: stronger than
	 * mlock and cheaper. When the pin write-faults itself (probed at
	 * creation) the pages need nothing before it; otherwise, or when it
	 * is refused (no io_uring, a read-only or file mapping), they are
	 * faulted in first (fault.c) and then pinned or mlocked.
	 */
	r->backend_priv = NULL;
	pinned = ps->pin_writes && !phys_pin(ps, r);
	if (!pinned) {
		err = dmki_fault_in(a, r->plen, r->prot, &writable);
		if (err)
			goto out;
		if ((r->prot & DMK_PROT_WRITE) && !writable) {
			/* only without MADV_POPULATE_WRITE: fault.c refuses read-only memory */
			err = dmki_fail(-EOPNOTSUPP, "the device may write [%#lx, +%zu), but this "
					"kernel has no MADV_POPULATE_WRITE (Linux 5.14) and no io_uring "
					"pin that writes pages in: nothing makes sure its pages are "
					"this process's own and not the shared zero page",
					(unsigned long)a, r->plen);
			goto out;
		}
		if (!ps->pin_writes)
			pinned = !phys_pin(ps, r);
	}
	if (!pinned) {
		ext_update(ps, a, b, +1);
		ps->nlive++;
		/* The whole range, already locked parts too: see the top of the file. */
		if (sys_mlock(a, r->plen)) {
			err = phys_mlock_fail(a, r->plen, errno);
			goto undo;
		}
	}
	err = phys_read(ps, pg, a, n);
	if (err)
		goto undo;
	bad = phys_convert(pg, n, &runs);
	if (bad) {
		err = dmki_fail(-EFAULT, "page at %#lx is not present after %s (pagemap entry %#llx)",
				(unsigned long)(a + ((bad - 1) << DMK_HOST_PAGE_SHIFT)),
				pinned ? "the io_uring pin" : "mlock",
				(unsigned long long)pg[bad - 1]);
		goto undo;
	}

	r->dev_runs = runs;
	if (runs == 1) {
		r->linear = true;
		r->dev_base = pg[0];
		r->pages = NULL;
		free(pg);
	} else {
		r->linear = false;
		r->pages = pg;
	}
	return 0;

undo:
	phys_release(ps, r);
out:
	free(pg);
	return err;
}

static void phys_unmap(struct dmk_space *sp, struct dmk_region *r)
{
	phys_release(sp->priv, r);
}

static void ext_free_all(struct dmki_lock_ext *t)
{
	if (!t)
		return;
	ext_free_all(t->l);
	ext_free_all(t->r);
	free(t);
}

static void phys_free(struct dmki_phys *ps)
{
	struct dmki_lock_ext *x;

	ext_free_all(ps->root);
	while ((x = ps->spare)) {
		ps->spare = x->r;
		free(x);
	}
	if (ps->fd >= 0)
		close(ps->fd);
	dmki_pin_close(&ps->pin);
	free(ps);
}

static void phys_destroy(struct dmk_space *sp)
{
	phys_free(sp->priv);
}

static const struct dmk_space_ops phys_ops = {
	.kind = "phys",
	.map = phys_map,
	.unmap = phys_unmap,
	.destroy = phys_destroy,
};

static int phys_entry(struct dmki_phys *ps, const volatile void *va, uint64_t *e)
{
	off_t off = (off_t)(((uintptr_t)va >> DMK_HOST_PAGE_SHIFT) * PM_ENTRY);

	errno = 0;
	if (pread(ps->fd, e, sizeof(*e), off) != (ssize_t)sizeof(*e))
		return -1;
	return 0;
}

/*
 * Does an io_uring pin write-fault the pages it pins (FOLL_WRITE, what
 * io_uring does today)? Pin a page never touched, write it: if the write
 * moved it to another frame, the pin held the zero page or a read-only
 * copy and every registration must be faulted in before its pin.
 */
static bool phys_pin_writes(struct dmki_phys *ps)
{
	volatile char *p = mmap(NULL, DMK_HOST_PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct dmki_pinned *pd;
	uint64_t before = 0, after = 0;
	bool writes = false;

	if (p == MAP_FAILED)
		return false;
	if (!dmki_pin_pages(&ps->pin, (uintptr_t)p, DMK_HOST_PAGE, &pd)) {
		if (!phys_entry(ps, p, &before)) {
			p[0] = 1;
			writes = !phys_entry(ps, p, &after) && (before & PM_PRESENT) &&
				 (before & PM_PFN_MASK) &&
				 (before & PM_PFN_MASK) == (after & PM_PFN_MASK);
		}
		dmki_unpin_pages(&ps->pin, pd);
	}
	munmap((void *)p, DMK_HOST_PAGE);
	return writes;
}

int dmk_space_phys_create(struct dmk_space **out)
{
	volatile uint64_t probe = 1;	/* on a stack page we have written */
	struct dmki_phys *ps;
	uint64_t e;
	int err;

	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return dmki_fail(-ENOMEM, "out of memory for a phys space");
	ps->pin.fd = -1;
	ps->pid = getpid();
	ps->rng = (uint32_t)ps->pid * 2654435761u | 1;
	ps->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (ps->fd < 0) {
		err = errno;
		phys_free(ps);
		if (err == ENOENT)
			return dmki_fail(-ENOENT, "/proc/self/pagemap is missing (no /proc, or a "
					 "kernel without CONFIG_PROC_PAGE_MONITOR)");
		if (err == EACCES || err == EPERM)
			return dmki_fail(-EPERM, "cannot open /proc/self/pagemap: %s; the phys "
					 "space needs root (CAP_SYS_ADMIN)", strerror(err));
		return dmki_fail(-err, "cannot open /proc/self/pagemap: %s", strerror(err));
	}
	/*
	 * The kernel decides at open() whether this file shows frames
	 * (CAP_SYS_ADMIN); otherwise present pages read as frame 0.
	 */
	if (phys_entry(ps, &probe, &e)) {
		err = errno ? errno : EIO;
		phys_free(ps);
		return dmki_fail(-err, "cannot read /proc/self/pagemap: %s", strerror(err));
	}
	if (!(e & PM_PRESENT) || (e & PM_SWAPPED)) {
		phys_free(ps);
		return dmki_fail(-EIO, "/proc/self/pagemap shows a written stack page as not "
				 "present (entry %#llx): unknown entry format",
				 (unsigned long long)e);
	}
	if (!(e & PM_PFN_MASK)) {
		phys_free(ps);
		return dmki_fail(-EPERM, "/proc/self/pagemap hides page frames (shows PFN 0): "
				 "the phys space needs root (CAP_SYS_ADMIN)");
	}
	/*
	 * No io_uring (old kernel, disabled, seccomp) or DMK_PHYS_PIN=mlock:
	 * every registration mlocks.
	 */
	if (!getenv("DMK_PHYS_PIN") || strcmp(getenv("DMK_PHYS_PIN"), "mlock"))
		if (!dmki_pin_open(&ps->pin))
			ps->pin_writes = phys_pin_writes(ps);
	err = dmki_space_new(&phys_ops, ps, out);
	if (err)
		phys_free(ps);
	return err;
}
