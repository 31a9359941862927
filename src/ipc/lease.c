/* SPDX-License-Identifier: MIT */
/*
 * The lease route, the daemon's side (lease.h): a window of IOVAs leased to
 * one client, the buffers it says it mapped there, and the checks every
 * request on them passes. Nothing the client says is trusted: a
 * registration must lie in the window and not share a page with another,
 * and every READ/WRITE is checked against both again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/region.h>
#include <dmakit/space.h>

#include "../core/error_priv.h"
#include "../space/vfio_priv.h"
#include "lease.h"

#define LPAGE 4096u

void dmki_lease_init(struct dmki_lease *l, uint64_t base, uint64_t size)
{
	memset(l, 0, sizeof(*l));
	l->base = base;
	l->size = size;
}

void dmki_lease_fini(struct dmki_lease *l)
{
	free(l->regs);
	l->regs = NULL;
	l->n = 0;
}

static uint64_t page_down(uint64_t x)
{
	return x & ~(uint64_t)(LPAGE - 1);
}

/* The last page of [@iova, @iova + @len), @len > 0 and no wrap. */
static uint64_t last_page(uint64_t iova, uint64_t len)
{
	return page_down(iova + len - 1);
}

int dmki_lease_check(const struct dmki_lease *l, uint64_t iova, uint64_t len, char *why,
		     size_t cap)
{
	if (!len || iova + len < iova) {
		snprintf(why, cap, "IOVA %#" PRIx64 " + %" PRIu64 " bytes is empty or wraps", iova, len);
		return -EINVAL;
	}
	if (iova < l->base || iova - l->base > l->size || len > l->size - (iova - l->base)) {
		snprintf(why, cap, "IOVA [%#" PRIx64 ", +%" PRIu64 ") is outside the lease [%#" PRIx64 ", +%" PRIu64 ")",
			 iova, len, l->base, l->size);
		return -ERANGE;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct dmki_lease_reg *o = &l->regs[i];

		if (page_down(iova) <= last_page(o->iova, o->len) &&
		    page_down(o->iova) <= last_page(iova, len)) {
			snprintf(why, cap, "IOVA [%#" PRIx64 ", +%" PRIu64 ") shares pages with handle %" PRIu64 " at [%#" PRIx64 ", +%" PRIu64 ")",
				 iova, len, o->handle, o->iova, o->len);
			return -EEXIST;
		}
	}
	return 0;
}

int dmki_lease_add(struct dmki_lease *l, const struct dmki_lease_reg *r, char *why, size_t cap)
{
	struct dmki_lease_reg *g;
	int rc = dmki_lease_check(l, r->iova, r->len, why, cap);

	if (rc)
		return rc;
	g = realloc(l->regs, (l->n + 1) * sizeof(*g));
	if (!g) {
		snprintf(why, cap, "out of memory");
		return -ENOMEM;
	}
	l->regs = g;
	l->regs[l->n++] = *r;
	return 0;
}

const struct dmki_lease_reg *dmki_lease_find(const struct dmki_lease *l, uint64_t handle)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->regs[i].handle == handle)
			return &l->regs[i];
	return NULL;
}

int dmki_lease_remove(struct dmki_lease *l, uint64_t handle)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->regs[i].handle == handle) {
			l->regs[i] = l->regs[--l->n];
			return 0;
		}
	return -ENOENT;
}

int dmki_lease_io(const struct dmki_lease *l, uint64_t handle, unsigned need, uint64_t off,
		  uint64_t len, uint64_t *dev, char *why, size_t cap)
{
	const struct dmki_lease_reg *r = dmki_lease_find(l, handle);
	uint64_t a;

	if (!r) {
		snprintf(why, cap, "handle %" PRIu64 " is not a lease registration of this connection",
			 handle);
		return -EPERM;
	}
	if (!len || off > r->len || len > r->len - off) {
		snprintf(why, cap, "bytes %" PRIu64 "+%" PRIu64 " are past lease handle %" PRIu64 " of %" PRIu64 " bytes",
			 off, len, handle, r->len);
		return -EINVAL;
	}
	a = r->iova + off;
	if (a < r->iova || a < l->base || a - l->base > l->size || len > l->size - (a - l->base)) {
		snprintf(why, cap, "IOVA [%#" PRIx64 ", +%" PRIu64 ") is outside the lease", a, len);
		return -ERANGE;
	}
	if (!(r->prot & need)) {
		snprintf(why, cap, "lease handle %" PRIu64 " does not let the device %s it", handle,
			 need == DMK_PROT_WRITE ? "write" : "read");
		return -EACCES;
	}
	*dev = a;
	return 0;
}

int dmki_lease_open(struct dmk_space *sp, uint64_t size, struct dmki_lease **out)
{
	struct dmki_lease *l;
	uint64_t base;
	int rc;

	if (!dmki_space_is_vfio(sp))
		return dmki_fail(-ENOTSUP, "the lease route needs a vfio space (this one is %s)",
				 dmk_space_kind(sp));
	if (!size || size > UINT64_MAX - LPAGE)
		return dmki_fail(-EINVAL, "a lease of %" PRIu64 " bytes", size);
	size = (size + LPAGE - 1) & ~(uint64_t)(LPAGE - 1);
	l = malloc(sizeof(*l));
	if (!l)
		return dmki_fail(-ENOMEM, "out of memory for a lease");
	rc = dmki_vfio_window_take(sp, size, &base);
	if (rc) {
		free(l);
		return rc;
	}
	dmki_lease_init(l, base, size);
	l->space = sp;
	*out = l;
	return 0;
}

int dmki_lease_close(struct dmki_lease *l, bool keep, uint64_t *unmapped)
{
	int rc = 0;

	if (!l)
		return 0;
	if (l->space)
		rc = dmki_vfio_window_give(l->space, l->base, l->size, keep, unmapped);
	dmki_lease_fini(l);
	free(l);
	return rc;
}
