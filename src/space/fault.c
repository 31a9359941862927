/* SPDX-License-Identifier: MIT */
/*
 * Faulting a registration's pages in, the same way on every kernel.
 *
 * A pin holds the frame that is mapped when the pin is taken. What that
 * frame is for memory the process has not written yet depends on the
 * kernel: a read fault on untouched anonymous memory maps the shared zero
 * page on most kernels and a frame of its own on others (seen on a 6.18
 * kernel); mlock() writes private writable pages in, read-only pins of the
 * zero page or of a page shared copy-on-write were left shared until 6.5
 * and are broken out since. A device writing a zero page corrupts every
 * process; a device reading a page that the process later replaces by
 * writing it (copy-on-write) reads stale data.
 *
 * So nothing is left to the kernel's choice: where the process may write,
 * its pages are write-faulted before the pin (MADV_POPULATE_WRITE, which
 * never maps the zero page and breaks copy-on-write sharing). Where it may
 * not, the device may only read, and what it reads is what the process
 * reads. No zero page's frame is ever guessed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dmakit/region.h>

#include "../core/bits.h"
#include "../core/error_priv.h"
#include "fault.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* <linux/mman.h>, Linux 5.14 */
#endif

/*
 * madvise straight to the kernel, as phys.c does mlock: a sanitizer's
 * runtime may intercept the libc call.
 */
static int sys_madvise(uintptr_t va, size_t len, int advice)
{
	return (int)syscall(SYS_madvise, va, len, advice);
}

/* 0 unknown, 1 supported, 2 not */
static _Atomic int populate_write;

bool dmki_populate_write_supported(void)
{
	int s = atomic_load_explicit(&populate_write, memory_order_relaxed);

	if (!s) {
		void *p = mmap(NULL, DMK_HOST_PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return false;	/* ask again next time */
		s = sys_madvise((uintptr_t)p, DMK_HOST_PAGE, MADV_POPULATE_WRITE) ? 2 : 1;
		munmap(p, DMK_HOST_PAGE);
		atomic_store_explicit(&populate_write, s, memory_order_relaxed);
	}
	return s == 1;
}

static int populate_write_range(uintptr_t va, size_t len)
{
	int rc;

	do
		rc = sys_madvise(va, len, MADV_POPULATE_WRITE) ? errno : 0;
	while (rc == EINTR);
	return rc;
}

static int populate_fail(int rc, uintptr_t va, size_t len)
{
	switch (rc) {
	case ENOMEM:
		return dmki_fail(-EFAULT, "part of [%#lx, +%zu) is not mapped",
				 (unsigned long)va, len);
	case EFAULT:
		return dmki_fail(-EFAULT, "a page of [%#lx, +%zu) cannot be faulted in (a file "
				 "mapping past the end of its file, or an empty hugetlb pool)",
				 (unsigned long)va, len);
	case EHWPOISON:
		return dmki_fail(-EIO, "[%#lx, +%zu) holds a hardware-poisoned page",
				 (unsigned long)va, len);
	default:
		return dmki_fail(-rc, "MADV_POPULATE_WRITE of [%#lx, +%zu): %s",
				 (unsigned long)va, len, strerror(rc));
	}
}

/*
 * A range the device only reads, partly writable by the process: the
 * writable mappings in it are write-faulted all the same (the process may
 * write them after the pin), the others left to the pin. madvise() stops
 * at the first mapping it refuses, so the mappings come from
 * /proc/self/maps.
 */
static int populate_writable_parts(uintptr_t va, size_t len)
{
	uintptr_t end = va + len;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	int rc = 0;

	if (!f)
		return dmki_fail(-errno, "cannot open /proc/self/maps to find the writable "
				 "parts of [%#lx, +%zu): %s", (unsigned long)va, len,
				 strerror(errno));
	while (!rc && fgets(line, sizeof(line), f)) {
		uintptr_t a, b;
		char perms[5];

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s", &a, &b, perms) != 3)
			continue;	/* the tail of an over-long path */
		if (b <= va || a >= end || perms[1] != 'w')
			continue;
		a = a < va ? va : a;
		b = b > end ? end : b;
		rc = populate_write_range(a, b - a);
		if (rc == EINVAL)	/* writable but not populatable: device memory */
			rc = 0;
		if (rc)
			rc = populate_fail(rc, a, b - a);
	}
	fclose(f);
	return rc;
}

int dmki_fault_in(uintptr_t va, size_t len, unsigned prot, bool *writable)
{
	bool dummy;
	int rc;

	if (!writable)
		writable = &dummy;
	*writable = false;
	if (!dmki_populate_write_supported())
		return 0;
	rc = populate_write_range(va, len);
	switch (rc) {
	case 0:
		*writable = true;
		return 0;
	case EINVAL:
		/* The kernel knows the advice (probed): the mapping is not writable. */
		if (prot & DMK_PROT_WRITE)
			return dmki_fail(-EACCES, "the device may write [%#lx, +%zu) but this process "
					 "may not (a read-only or PROT_NONE mapping, or device "
					 "memory): the device would write the shared zero page or a "
					 "file's page cache", (unsigned long)va, len);
		return populate_writable_parts(va, len);
	default:
		return populate_fail(rc, va, len);
	}
}
