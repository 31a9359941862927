/* SPDX-License-Identifier: MIT */
/* Internal: long-term page pins through io_uring registered buffers (pin.c). */
#ifndef DMK_PIN_H
#define DMK_PIN_H

#include <stddef.h>
#include <stdint.h>

/* io_uring's limit on registered buffers (IORING_MAX_REG_BUFFERS). */
#define DMKI_PIN_SLOTS 16384

struct dmki_pin {
	int fd;			/* the io_uring, -1 when unavailable */
	unsigned nslots;
	unsigned *free;		/* free slots, a stack */
	unsigned nfree;
};

/* What one pin_pages() call holds: its slots. */
struct dmki_pinned {
	unsigned n;
	unsigned slot[];
};

/* Set up the ring; 0 or a negative errno (the caller then uses mlock). */
int dmki_pin_open(struct dmki_pin *p);
void dmki_pin_close(struct dmki_pin *p);

/*
 * Pin [@va, @va + @len) (page aligned) for the long term; 0 and *@out, or
 * a negative errno: -ENOSYS without a ring, -ENOSPC without free slots,
 * -EFAULT for memory the kernel will not pin writable (a read-only
 * mapping), -ENOMEM, or another from io_uring_register(2).
 */
int dmki_pin_pages(struct dmki_pin *p, uintptr_t va, size_t len, struct dmki_pinned **out);
void dmki_unpin_pages(struct dmki_pin *p, struct dmki_pinned *pd);

#endif
