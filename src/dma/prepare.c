/* SPDX-License-Identifier: MIT */
/*
 * DMA commands: preparing, the segment generator.
 *
 * A prepare walks the slice as runs of bytes that are contiguous on the
 * device and feeds them to emit(), which grows the last segment or starts a
 * new one, cutting where the size, boundary, window or transfer limits say
 * and only at points where both halves stay legal. When a run cannot go in
 * place (its start breaks an alignment or the window, or the segment before
 * it cannot legally end there) the generator bounces: bytes go to chunks of
 * the pool, whose addresses obey every rule, until a point where the
 * in-place bytes are legal again. A segment that already ended badly is cut
 * back to its last legal end first, and those bytes are bounced too. So
 * only the pieces that need it are copied.
 *
 * Terms: A = address alignment, LA = length alignment, PG = device page.
 * G is the alignment a segment other than the first must start on (A, or
 * PG too under the page-list rule); E is the granule a segment other than
 * the last must end on (LA, or PG too under the page-list rule).
 *
 * Device addresses reach 2^64 - 1 and a segment may end exactly at 2^64, so
 * no limit is an end address: the size, boundary and window limits are
 * "bytes a segment starting at s may hold" (room), which is at most
 * 2^64 - s and never overflows; cuts are lengths within that room. An end
 * s + len is only ever taken modulo a power of two (2^64 is aligned to
 * every one), or compared after checking it cannot wrap. No space hands out
 * both device address 0 and 2^64 - 1 (a sim window is smaller than 2^64,
 * the IOVA allocator keeps the first and last pages out, physical memory
 * is nowhere near 2^64), so a run that ends at 2^64 is never followed by
 * one at 0: the page walks below compare ends modulo 2^64.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/dma.h>

#include "../core/error_priv.h"
#include "../space/space_priv.h"
#include "dma_priv.h"

/* Why emit() stopped before it used all of a run. */
enum emit_rc {
	EMIT_OK = 0,
	EMIT_VIOLATION,		/* the run cannot go in place here; x may be rewound */
	EMIT_FULL,		/* the segment count is reached */
	EMIT_REWIND,		/* the last segment was cut back: walk again from g->rewind_to */
};

struct gen {
	struct dmk_dma *d;
	const struct iovec *iov;
	int iovcnt;
	int iov_i;		/* walker: entry and offset of byte x */
	uint64_t iov_off;
	uint64_t x;		/* bytes of the slice consumed */
	uint64_t slice_off;	/* the slice's offset within the descriptor */
	uint64_t target;	/* bytes to cover */
	const char *why;	/* the rule the last violation broke */
	int why_err;
	bool truncate;		/* the violation needs the last segment cut back */
	uint64_t rewind_to;	/* EMIT_REWIND: where to walk on from */
	bool fresh_segment;	/* after EMIT_REWIND: start a segment, do not grow the last */
	bool entered;		/* bouncing starts here: at least one granule goes */
	struct dmk_region *last_held;
	struct dmk_region *hint;	/* see struct dmk_dma */
	long chunk;		/* bounce: current chunk, or -1 */
	uint64_t chunk_used;
};

static int grow_segs(struct dmk_dma *d, size_t need)
{
	return dmki_grow((void **)&d->segs, &d->cap, need, sizeof(*d->segs));
}

/* Whether the last segment lies in the bounce pool. */
static inline bool last_bounce(const struct dmk_dma *d)
{
	return d->nb && d->bidx[d->nb - 1] == d->nsegs - 1;
}

static void drop_last(struct dmk_dma *d)
{
	if (last_bounce(d))
		d->nb--;
	d->nsegs--;
}

static void seek(struct gen *g, uint64_t x)
{
	uint64_t off = g->slice_off + x;
	int i = 0;

	while (i < g->iovcnt && off >= g->iov[i].iov_len) {
		off -= g->iov[i].iov_len;
		i++;
	}
	g->iov_i = i;
	g->iov_off = off;
	g->x = x;
}

static void advance(struct gen *g, uint64_t n)
{
	g->x += n;
	g->iov_off += n;
	while (g->iov_i < g->iovcnt && g->iov_off >= g->iov[g->iov_i].iov_len) {
		g->iov_off -= g->iov[g->iov_i].iov_len;
		g->iov_i++;
	}
}

/*
 * Whether the segment ends where @dev is; not for one ending at 2^64 and
 * @dev 0, which no space hands out together anyway (see the top).
 */
static inline bool seg_follows(const struct dmk_seg *s, uint64_t dev)
{
	return dev - s->addr == s->len && dev >= s->addr;
}

/* (s + len) mod 2^64 is aligned exactly when the true end is: 2^64 is aligned. */
static bool seg_can_end(const struct dmk_dma *d, const struct dmk_seg *s)
{
	return !(s->len & (d->spec.len_align - 1)) &&
	       (!(d->spec.flags & DMK_SPEC_PAGE_LIST) || !((s->addr + s->len) & (d->spec.dev_page_size - 1)));
}

/*
 * The longest legal length, at most @room, of a segment starting at @s
 * that another follows: it ends G aligned (the next one starts there) and
 * is a multiple of LA. 0 when there is none. Lengths only: s + room may be
 * 2^64.
 */
static uint64_t cut_len(const struct dmk_dma *d, uint64_t s, uint64_t room)
{
	uint64_t la = d->spec.len_align, G = d->G, over;

	if (la <= G) {
		/* End on the last G line in reach; every such end leaves s's residue mod LA. */
		over = (s + room) & (G - 1);
		if (over >= room || (s & (la - 1)))
			return 0;
		return room - over;
	}
	/* G divides every multiple of LA: the end is G aligned when s is. */
	return (s & (G - 1)) ? 0 : align_down(room, la);
}

/*
 * The room of a segment starting at @s (inside the window): how many bytes
 * it may hold under the window, size and boundary limits. The window's
 * addr_high - s + 1 is 2^64 only for s = 0 in a window reaching 2^64 - 1;
 * no length exceeds UINT64_MAX, so capped there it decides the same. The
 * boundary's is what is left of s's block, boundary - (s mod boundary),
 * at most 2^63: the block's end address would be 2^64 in the last block.
 */
static uint64_t seg_room(const struct dmk_dma *d, uint64_t s)
{
	uint64_t room = d->spec.addr_high - s;

	room = room == UINT64_MAX ? UINT64_MAX : room + 1;
	if (d->spec.max_seg_size)
		room = min_u64(room, d->spec.max_seg_size);
	if (d->spec.boundary)
		room = min_u64(room, d->spec.boundary - (s & (d->spec.boundary - 1)));
	return room;
}

/*
 * Cut the last segment back to its last legal end (as a segment that is
 * not the transfer's last when @final is false) and rewind the walker.
 */
static void truncate_last(struct gen *g, bool final)
{
	struct dmk_dma *d = g->d;
	struct dmk_seg *s = &d->segs[d->nsegs - 1];
	uint64_t pg_mask = d->spec.dev_page_size - 1, len = s->len, over;
	bool page_end = !final && (d->spec.flags & DMK_SPEC_PAGE_LIST);

	/* In lengths: the end may be 2^64, which is on every page. */
	if (page_end) {
		over = (s->addr + len) & pg_mask;
		len = over < len ? len - over : 0;
	}
	len = align_down(len, d->spec.len_align);
	if (page_end && ((s->addr + len) & pg_mask))
		len = 0;
	/* The walker stands at the end of the last segment. */
	seek(g, g->x - s->len + len);
	s->len = len;
	if (!s->len)
		drop_last(d);
}

static int violation(struct gen *g, int err, const char *why)
{
	g->why_err = err;
	g->why = why;
	return EMIT_VIOLATION;
}

/*
 * Append @len bytes at device address @dev (contiguous on the device) to
 * the segments. *@used receives how many went in; the rest did not fit for
 * the reason returned. The caller advances the walker by *@used, then cuts
 * the last segment back when g->truncate says so.
 */
static int emit_slow(struct gen *g, uint64_t dev, uint64_t len, bool bounce, uint64_t *used);

/*
 * The common cases without a loop: the run extends the last segment, or
 * starts a legal one, and no size, boundary or window limit is near.
 */
static inline __attribute__((always_inline)) int emit(struct gen *g, uint64_t dev, uint64_t len,
						      bool bounce, uint64_t *used)
{
	struct dmk_dma *d = g->d;
	size_t n = d->nsegs;

	/* In-place bytes only: bounce bytes must stop at legal cut points. */
	if (likely(d->unbounded && !bounce && !g->fresh_segment && !d->nb)) {
		struct dmk_seg *last = &d->segs[n ? n - 1 : 0];

		/*
		 * The end modulo 2^64, as in the page walks (see the top):
		 * seg_follows() here made a 4 KiB prepare 5 instructions longer.
		 */
		if (n && last->addr + last->len == dev && last->len + len <= d->max_seg) {
			last->len += len;
			*used = len;
			return EMIT_OK;
		}
		if (len <= d->max_seg && n < d->cap && (!d->spec.max_segs || n < d->spec.max_segs) &&
		    (!n || seg_can_end(d, last)) && !(dev & ((n ? d->G : d->spec.addr_align) - 1))) {
			d->segs[n] = (struct dmk_seg){ dev, len };
			d->nsegs = n + 1;
			*used = len;
			return EMIT_OK;
		}
	}
	return emit_slow(g, dev, len, bounce, used);
}

static int emit_slow(struct gen *g, uint64_t dev, uint64_t len, bool bounce, uint64_t *used)
{
	struct dmk_dma *d = g->d;
	const struct dmk_dma_spec *sp = &d->spec;

	*used = 0;
	while (len) {
		struct dmk_seg *last = d->nsegs ? &d->segs[d->nsegs - 1] : NULL;
		uint64_t add;

		if (last && last_bounce(d) == bounce && seg_follows(last, dev) && !g->fresh_segment) {
			uint64_t room = seg_room(d, last->addr), cap;

			/*
			 * An in-place run arrives whole, so its segment may end
			 * anywhere in its room (a later contiguous run cuts it
			 * back, see below). Bounce bytes arrive a chunk at a
			 * time and cannot be cut back: they stop at legal ends.
			 * Lengths, not ends: the room may reach 2^64. At most
			 * @len bytes are ever taken.
			 */
			cap = bounce ? cut_len(d, last->addr, room) : room;
			if (cap >= last->len && len <= cap - last->len) {
				add = len;
			} else {
				cap = bounce ? cap : cut_len(d, last->addr, room);
				add = cap > last->len ? min_u64(cap - last->len, len) : 0;
			}
			if (add) {
				last->len += add;
				dev += add;
				len -= add;
				*used += add;
				continue;
			}
			if (!last->len) {
				/* A fresh segment that cannot legally take a byte. */
				drop_last(d);
				return violation(g, -EINVAL, "no legal segment fits the size and boundary limits here");
			}
		}
		/* A new segment: the last one must be able to end here. */
		if (last && !seg_can_end(d, last)) {
			uint64_t c;

			if (last_bounce(d))
				return violation(g, -EPROTO, "internal: a bounce segment ended badly");
			/* Cut it back to its last legal end and go on in place from there. */
			c = cut_len(d, last->addr, last->len);
			if (c) {
				g->rewind_to = g->x + *used - last->len + c;
				last->len = c;
				/* Else the walk would grow it again to the same end. */
				g->fresh_segment = true;
				return EMIT_REWIND;
			}
			g->truncate = true;
			return violation(g, -EINVAL, sp->flags & DMK_SPEC_PAGE_LIST ?
					 "a segment other than the last must end on a device page" :
					 "a segment length is not a multiple of the length alignment");
		}
		if (sp->max_segs && d->nsegs == sp->max_segs)
			return EMIT_FULL;
		if (!bounce) {
			if (dev & ((d->nsegs ? d->G : sp->addr_align) - 1))
				return violation(g, -EINVAL, d->nsegs && (sp->flags & DMK_SPEC_PAGE_LIST) ?
						 "a segment other than the first must start on a device page" :
						 "a segment's address is not aligned as the device needs");
			if (dev < sp->addr_low || dev > sp->addr_high)
				return violation(g, -ERANGE, "memory lies outside the device's address window");
		}
		if (grow_segs(d, d->nsegs + 1))
			return violation(g, -ENOMEM, "out of memory for segments");
		if (bounce) {
			if (dmki_grow((void **)&d->bidx, &d->nb_cap, d->nb + 1, sizeof(*d->bidx)))
				return violation(g, -ENOMEM, "out of memory for segments");
			d->bidx[d->nb++] = d->nsegs;
		}
		d->segs[d->nsegs] = (struct dmk_seg){ dev, 0 };
		d->nsegs++;
		g->fresh_segment = false;
	}
	return EMIT_OK;
}

/* Record that the command uses @r; false when the hold is full. */
static bool hold(struct gen *g, struct dmk_region *r)
{
	struct dmki_hold *h = &g->d->hold;
	unsigned n;

	if (r == g->last_held)
		return true;
	n = atomic_load_explicit(&h->n, memory_order_relaxed);
	for (unsigned i = 0; i < n; i++)
		if (atomic_load_explicit(&h->region[i], memory_order_relaxed) == r)
			goto done;
	if (n == DMKI_HOLD_MAX)
		return false;
	atomic_store_explicit(&h->region[n], r, memory_order_relaxed);
	atomic_store_explicit(&h->n, n + 1, memory_order_release);
done:
	g->last_held = r;
	return true;
}

/*
 * The run at the walker: its virtual address, device address and length,
 * contiguous on the device, within one iovec entry and the slice.
 */
static int run_at(struct gen *g, char **va_out, uint64_t *dev, uint64_t *len,
		  struct dmk_region **rout)
{
	struct dmk_space *sp = g->d->space;
	uintptr_t va = (uintptr_t)g->iov[g->iov_i].iov_base + g->iov_off;
	uint64_t max = min_u64(g->iov[g->iov_i].iov_len - g->iov_off, g->target - g->x);
	struct dmk_region *r;
	uint64_t ignored;

	/*
	 * The region the walk is in already translates the next pages: any
	 * live registration of a page gives a valid device address for it.
	 */
	r = g->last_held;
	if (!r || va < r->pva || va >= r->pva + r->plen)
		r = g->hint;
	if (!r || va < r->pva || va >= r->pva + r->plen) {
		if (!dmki_radix_lookup(&sp->radix, va, &ignored, &r))
			r = NULL;
	}
	if (unlikely(!r))
		return dmki_fail(-EFAULT, "byte %" PRIu64 " of the transfer (%#" PRIxPTR ") is in no registered page",
				 g->slice_off + g->x, va);
	*dev = dmk_region_dev(r, va);
	if (r->linear) {
		*len = min_u64(max, r->pva + r->plen - va);
	} else {
		uintptr_t p = align_down(va, DMK_HOST_PAGE) + DMK_HOST_PAGE;
		uint64_t want = *dev - (va & (DMK_HOST_PAGE - 1)) + DMK_HOST_PAGE;

		while (p < va + max && p < r->pva + r->plen &&
		       r->pages[(p - r->pva) >> DMK_HOST_PAGE_SHIFT] == want) {
			p += DMK_HOST_PAGE;
			want += DMK_HOST_PAGE;
		}
		*len = min_u64(max, min_u64(p, r->pva + r->plen) - va);
	}
	*va_out = (char *)va;
	*rout = r;
	return 0;
}

/*
 * Whole pages [@i, @last) of a page array: one load and one compare a page,
 * a store at each break in device addresses. Its own function, with only
 * what the loop needs live, so that nothing spills to the stack. Returns the
 * first page it did not take (a limit or a rule the caller must look at).
 * A run ending at 2^64 has run_end 0, which no page matches (see the top).
 */
static __attribute__((noinline)) uintptr_t
walk_whole_pages(const uint64_t *pages, uintptr_t i, uintptr_t last, struct dmk_seg *segs,
		 size_t *np, struct dmk_seg *run, uint64_t max_seg, uint64_t la_mask,
		 uint64_t end_mask, uint64_t gmask)
{
	uint64_t run_start = run->addr, run_end = run->addr + run->len;
	size_t n = *np;

	for (; i < last; i++) {
		uint64_t dev = pages[i];

		if (dev == run_end) {
			if (unlikely(run_end + DMK_HOST_PAGE - run_start > max_seg))
				break;
			run_end += DMK_HOST_PAGE;
			continue;
		}
		if (unlikely((((run_end - run_start) & la_mask) | (run_end & end_mask) | (dev & gmask))))
			break;
		segs[n].addr = run_start;
		segs[n].len = run_end - run_start;
		n++;
		run_start = dev;
		run_end = dev + DMK_HOST_PAGE;
	}
	run->addr = run_start;
	run->len = run_end - run_start;
	*np = n;
	return i;
}

/*
 * Not inlined: inside generate() the loop below runs out of registers.
 *
 * Physically scattered memory (phys, or a scattered sim): walk the region's
 * page array in one tight loop, growing or starting segments, for as long as
 * nothing needs the general path (a limit, an alignment, a bad end). Returns
 * the bytes consumed from the walker's position; 0 sends the caller to the
 * general path.
 */
static __attribute__((noinline)) uint64_t walk_pages(struct gen *g, const struct dmk_region *r,
						       uintptr_t va)
{
	struct dmk_dma *d = g->d;
	uint64_t max = min_u64(g->iov[g->iov_i].iov_len - g->iov_off, g->target - g->x);
	uintptr_t end = min_u64(va + max, r->pva + r->plen), p = va;
	size_t n = d->nsegs, limit = d->spec.max_segs ? d->spec.max_segs : SIZE_MAX;
	uint64_t npages = ((end - 1) >> DMK_HOST_PAGE_SHIFT) - (va >> DMK_HOST_PAGE_SHIFT) + 1;
	/* Locals, so that the stores into segs do not make the loop reload them. */
	const uint64_t *pages = r->pages - (r->pva >> DMK_HOST_PAGE_SHIFT);
	const uint64_t max_seg = d->max_seg, G = d->G, A = d->spec.addr_align;
	const uint64_t la_mask = d->spec.len_align - 1;
	const uint64_t end_mask = (d->spec.flags & DMK_SPEC_PAGE_LIST) ? d->spec.dev_page_size - 1 : 0;
	bool joinable = n && !last_bounce(d);
	/* One segment a page at most: the count and size limits rarely matter. */
	bool counted = limit - n <= npages + 1 || max_seg < DMK_HOST_PAGE;
	struct dmk_seg *segs, run;

	if (grow_segs(d, n + npages))
		return 0;
	segs = d->segs;
	/* The run being built stays in registers; it is stored when it ends. */
	if (joinable) {
		run = segs[--n];
	} else {
		uint64_t dev = pages[p >> DMK_HOST_PAGE_SHIFT] + (p & (DMK_HOST_PAGE - 1));

		if (n >= limit || (n && ((segs[n - 1].len & la_mask) ||
					 ((segs[n - 1].addr + segs[n - 1].len) & end_mask))) ||
		    (dev & ((n ? G : A) - 1)))
			return 0;
		run = (struct dmk_seg){ dev, 0 };
	}
	while (p < end) {
		uintptr_t pe = min_u64(align_down(p, DMK_HOST_PAGE) + DMK_HOST_PAGE, end);
		uint64_t dev = pages[p >> DMK_HOST_PAGE_SHIFT] + (p & (DMK_HOST_PAGE - 1));

		if (!(p & (DMK_HOST_PAGE - 1)) && pe - p == DMK_HOST_PAGE && !counted) {
			/*
			 * Whole pages: one load, one compare and, at a break in
			 * device addresses, one store each. A page that needs
			 * more thought stops this loop and goes the long way.
			 */
			uintptr_t i = walk_whole_pages(pages, p >> DMK_HOST_PAGE_SHIFT, end >> DMK_HOST_PAGE_SHIFT,
						       segs, &n, &run, max_seg, la_mask, end_mask, G - 1);

			if (i == p >> DMK_HOST_PAGE_SHIFT)
				goto general;	/* the first page itself needs the long way */
			p = i << DMK_HOST_PAGE_SHIFT;
			continue;
		}
general:
		if (run.addr + run.len == dev) {
			/* Contiguous: run over the following pages in a tight loop. */
			uint64_t want = dev - (p & (DMK_HOST_PAGE - 1)) + DMK_HOST_PAGE;

			while (pe < end && pages[pe >> DMK_HOST_PAGE_SHIFT] == want) {
				pe += DMK_HOST_PAGE;
				want += DMK_HOST_PAGE;
			}
			pe = min_u64(pe, end);
			if (run.len + (pe - p) > max_seg)
				break;
			run.len += pe - p;
		} else {
			/* A new segment: the run must end legally, this one start so. */
			if (unlikely(((run.len & la_mask) | ((run.addr + run.len) & end_mask) |
				      (dev & (G - 1))) ||
				     (counted && (n + 1 >= limit || pe - p > max_seg))))
				break;
			segs[n++] = run;
			run = (struct dmk_seg){ dev, pe - p };
		}
		p = pe;
	}
	if (run.len)
		segs[n++] = run;
	d->nsegs = n;
	return p - va;
}

static int check_access(struct gen *g, struct dmk_region *r, uintptr_t va)
{
	unsigned need = 0;

	if (g->d->dir & DMK_TO_DEVICE)
		need |= DMK_PROT_READ;
	if (g->d->dir & DMK_FROM_DEVICE)
		need |= DMK_PROT_WRITE;
	if ((r->prot & need) != need)
		return dmki_fail(-EFAULT, "the registration holding %#" PRIxPTR " does not let the device %s it",
				 va, (need & DMK_PROT_WRITE) ? "write" : "read");
	return 0;
}

/*
 * Where in a run (device address @d0, @len bytes) the bytes may go in place
 * again after bouncing: the open bounce segment can end there and an
 * in-place segment can start. Returns @len when nowhere.
 */
static uint64_t exit_point(const struct gen *g, uint64_t d0, uint64_t len)
{
	const struct dmk_dma *d = g->d;
	bool open = last_bounce(d);
	uint64_t bl = open ? d->segs[d->nsegs - 1].len : 0, E = d->E, G = d->G, k, M = max_u64(E, G);

	/* Without an open bounce segment, bounce at least one granule first. */
	if (E >= G) {
		k = (E - (bl & (E - 1))) & (E - 1);
		if ((d0 + k) & (G - 1))
			return len;
	} else {
		k = (G - (d0 & (G - 1))) & (G - 1);
		if ((bl + k) & (E - 1))
			return len;
	}
	/* Just (re)entered: the bytes here just failed in place; move past them. */
	if (k == 0 && (g->entered || !bl))
		k += M;
	/* Inside the run, d0 + k does not wrap: a run ends at 2^64 at the latest. */
	if (k >= len)
		return len;
	if (d0 + k < d->spec.addr_low) {
		uint64_t gap = d->spec.addr_low - (d0 + k), step = align_up(gap, M);

		/* align_up wraps to 0 for a gap within M of 2^64: nothing in the run then. */
		if (step < gap || step >= len - k)
			return len;
		k += step;
	}
	if (d0 + k > d->spec.addr_high)
		return len;
	return k;
}

/* Copy-route @n bytes at @va (of a region @foreign or not) through the pool. */
static int bounce_bytes(struct gen *g, char *va, uint64_t n, bool foreign, uint64_t *done)
{
	struct dmk_dma *d = g->d;
	struct dmk_bounce_pool *p = d->pool;

	*done = 0;
	while (n) {
		uint64_t room, used, dev;
		int rc;

		if (g->chunk < 0 || g->chunk_used == p->chunk) {
			size_t got;
			long c = dmki_bounce_take(p, 1, g->chunk < 0 ? -1 : g->chunk + 1, &got);

			if (c < 0)
				return dmki_fail(-ENOBUFS, "bounce pool full (%zu chunks of %" PRIu64 " bytes)",
						 p->nchunks, p->chunk);
			if (d->nruns && d->runs[d->nruns - 1].first + d->runs[d->nruns - 1].n == (size_t)c) {
				d->runs[d->nruns - 1].n++;
			} else {
				if (dmki_grow((void **)&d->runs, &d->runs_cap, d->nruns + 1, sizeof(*d->runs))) {
					dmki_bounce_give(p, c, 1);
					return dmki_fail(-ENOMEM, "out of memory for bounce records");
				}
				d->runs[d->nruns++] = (struct chunk_run){ c, 1 };
			}
			g->chunk = c;
			g->chunk_used = 0;
		}
		room = min_u64(n, p->chunk - g->chunk_used);
		dev = dmki_bounce_dev(p, g->chunk) + g->chunk_used;
		rc = emit(g, dev, room, true, &used);
		if (used) {
			char *b = p->mem + g->chunk * p->chunk + g->chunk_used;
			struct copy *last = d->ncopies ? &d->copies[d->ncopies - 1] : NULL;

			if (last && last->host + last->len == va && last->bounce + last->len == b &&
			    last->foreign == foreign) {
				last->len += used;
			} else {
				if (dmki_grow((void **)&d->copies, &d->copies_cap, d->ncopies + 1, sizeof(*d->copies)))
					return dmki_fail(-ENOMEM, "out of memory for bounce records");
				d->copies[d->ncopies++] = (struct copy){ va, b, used, foreign };
			}
			g->chunk_used += used;
			d->bounced += used;
			advance(g, used);
			va += used;
			n -= used;
			*done += used;
		}
		if (rc == EMIT_FULL)
			return EMIT_FULL;
		if (rc == EMIT_VIOLATION || rc == EMIT_REWIND)
			return dmki_fail(g->why_err, "bounce: %s", g->why);
	}
	return 0;
}

/* Give back the last @t bounced bytes (they end the last segment). */
static void trim_bounce(struct gen *g, uint64_t t)
{
	struct dmk_dma *d = g->d;

	d->segs[d->nsegs - 1].len -= t;
	if (!d->segs[d->nsegs - 1].len)
		drop_last(d);
	d->bounced -= t;
	g->x -= t;
	while (t) {
		struct copy *c = &d->copies[d->ncopies - 1];
		uint64_t n = min_u64(t, c->len);

		c->len -= n;
		t -= n;
		if (!c->len)
			d->ncopies--;
	}
}


static int generate(struct gen *g)
{
	struct dmk_dma *d = g->d;
	bool bouncing = false;

	while (g->x < g->target) {
		struct dmk_region *r = NULL;
		uint64_t dev = 0, len = 0, used;
		char *va = NULL;
		int rc;

		if (unlikely(g->iov_i >= g->iovcnt))
			return dmki_fail(-EPROTO, "internal: the walker left the descriptor at byte %" PRIu64, g->x);
		rc = run_at(g, &va, &dev, &len, &r);
		if (rc)
			return rc;
		if (r != g->last_held) {
			rc = check_access(g, r, (uintptr_t)va);
			if (rc)
				return rc;
			/* Bounced bytes are held too: sync copies them after the device ran. */
			if (!hold(g, r))
				goto full_hold;
			dmki_reader_fence(d->space);
			if (unlikely(atomic_load_explicit(&r->state, memory_order_relaxed) != DMK_REGION_LIVE))
				return dmki_fail(-EFAULT, "byte %" PRIu64 " of the transfer is in a registration being removed",
						 g->slice_off + g->x);
		}
		/* Worth its call only beyond a couple of pages. */
		if (!bouncing && !r->linear && d->unbounded && !g->fresh_segment &&
		    min_u64(g->iov[g->iov_i].iov_len - g->iov_off, g->target - g->x) > 2 * DMK_HOST_PAGE) {
			used = walk_pages(g, r, (uintptr_t)va);
			if (used) {
				advance(g, used);
				continue;
			}
		}
		if (bouncing) {
			uint64_t k = exit_point(g, dev, len);

			if (!k) {
				bouncing = false;
				continue;
			}
			/*
			 * Bounce up to the exit point, then look again: a limit
			 * may have cut the bounce segment on the way, which
			 * moves the point where it can legally end.
			 */
			rc = bounce_bytes(g, va, k, r->foreign, &used);
			g->entered = false;
			if (rc == EMIT_FULL)
				break;
			if (rc)
				return rc;
			continue;
		}
		rc = emit(g, dev, len, false, &used);
		advance(g, used);
		if (rc == EMIT_FULL)
			break;
		if (rc == EMIT_REWIND) {
			seek(g, g->rewind_to);
			continue;
		}
		if (rc == EMIT_VIOLATION) {
			if (g->why_err == -ENOMEM || g->why_err == -EPROTO)
				return dmki_fail(g->why_err, "%s", g->why);
			if (!d->pool)
				return dmki_fail(g->why_err, "byte %" PRIu64 " of the transfer: %s, and there is no bounce pool",
						 g->slice_off + g->x, g->why);
			if (g->truncate) {
				truncate_last(g, false);
				g->truncate = false;
			}
			bouncing = true;
			g->entered = true;
			/* Go on filling the chunk when the bounce segment is still the last. */
			if (!last_bounce(d))
				g->chunk = -1;
		}
	}
	return 0;
full_hold:
	/* The covered prefix must be a legal transfer on its own. */
	if (d->nsegs && !last_bounce(d))
		truncate_last(g, true);
	else if (d->nsegs)
		trim_bounce(g, d->segs[d->nsegs - 1].len & (d->spec.len_align - 1));
	return 0;
}

static int prepare(struct dmk_dma *d, const struct iovec *iov, int iovcnt, enum dmk_dir dir,
		   uint64_t total, uint64_t offset, uint64_t length, uint64_t *covered)
{
	struct gen g;
	unsigned seq;
	uint64_t unregs;
	int err;

	if (unlikely(d->prepared))
		return dmki_fail(-EBUSY, "the DMA command is already prepared; complete it first");
	if (unlikely(offset > total || length > total - offset || !length))
		return dmki_fail(-EINVAL, "slice %" PRIu64 " + %" PRIu64 " is empty or outside a descriptor of %" PRIu64 " bytes",
				 offset, length, total);
	if (unlikely(length & (d->spec.len_align - 1)))
		return dmki_fail(-EINVAL, "length %" PRIu64 " is not a multiple of the length alignment %" PRIu64,
				 length, d->spec.len_align);
	d->dir = dir;
	d->nsegs = 0;
	d->nb = 0;
	seq = atomic_load_explicit(&d->hold.seq, memory_order_relaxed);
	atomic_store_explicit(&d->hold.seq, seq + 1, memory_order_relaxed);
	dmki_reader_fence(d->space);
	/*
	 * Field by field: zeroing the whole struct costs a string store on
	 * the path of every I/O. The hint is valid only if no unregister began
	 * since it was taken; one that begins now sees our odd seq and waits.
	 */
	unregs = atomic_load_explicit(&d->space->unregs, memory_order_relaxed);
	g.d = d;
	g.iov = iov;
	g.iovcnt = iovcnt;
	g.iov_i = 0;
	g.iov_off = 0;
	g.x = 0;
	g.slice_off = offset;
	g.why = NULL;
	g.why_err = 0;
	g.truncate = false;
	g.rewind_to = 0;
	g.fresh_segment = false;
	g.entered = false;
	g.last_held = NULL;
	g.hint = d->hint_unregs == unregs ? d->hint : NULL;
	g.chunk = -1;
	g.chunk_used = 0;
	g.target = d->spec.max_transfer ? min_u64(length, d->spec.max_transfer) : length;
	if (likely(iovcnt == 1)) {
		g.iov_off = offset;
	} else {
		seek(&g, 0);
	}
	err = generate(&g);
	if (!err && !g.x)
		err = dmki_fail(-EINVAL, "no legal prefix of the transfer fits the segment limits");
	if (err) {
		d->bounced = 0;	/* no transfer moved: not for the pool's statistics */
		dmki_dma_release(d);
	} else {
		d->covered = g.x;
		d->prepared = true;
		*covered = g.x;
		d->hint = g.last_held;
		d->hint_unregs = unregs;
	}
	atomic_store_explicit(&d->hold.seq, seq + 2, memory_order_release);
	return err;
}

int dmk_dma_prepare(struct dmk_dma *d, const struct dmk_mem *mem, uint64_t offset,
		    uint64_t length, uint64_t *covered)
{
	if (unlikely(!d || !mem || !covered))
		return dmki_fail(-EINVAL, "no command, descriptor or place for the covered length");
	return prepare(d, mem->iov, mem->iovcnt, mem->dir, mem->total, offset, length, covered);
}

int dmk_dma_prepare_buf(struct dmk_dma *d, void *va, size_t len, enum dmk_dir dir,
			uint64_t *covered)
{
	struct iovec iov = { va, len };

	if (unlikely(!d || !covered))
		return dmki_fail(-EINVAL, "no command or place for the covered length");
	if (unlikely(dir != DMK_TO_DEVICE && dir != DMK_FROM_DEVICE && dir != DMK_BIDIRECTIONAL))
		return dmki_fail(-EINVAL, "unknown DMA direction %d", (int)dir);
	if (unlikely((uintptr_t)va + len < (uintptr_t)va))
		return dmki_fail(-EINVAL, "buffer %p + %zu wraps around", va, len);
	return prepare(d, &iov, 1, dir, len, 0, len, covered);
}
