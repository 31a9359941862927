/* SPDX-License-Identifier: MIT */
/*
 * Internal: copies within this process that a page fault cannot turn into
 * a signal.
 *
 * Memory mapped from a file that another process controls may fault on any
 * access: a page past the end of a file that shrank, a hole in a hugetlbfs
 * file (punched with fallocate()) while the huge page pool is empty. A load
 * or a store there raises SIGBUS and kills the process. The same bytes
 * moved by the kernel on the process's behalf, process_vm_readv() on the
 * process itself, fail with EFAULT instead: the kernel faults the pages in
 * (remote side) or copies to user memory with a fault fixup (local side),
 * and neither raises a signal. It costs more than memcpy() (about 2.8 us
 * against 0.08 us for 4 KiB, 5 times memcpy()'s time for 1 MiB, measured
 * on a 2-vCPU guest on 6.18): used where the library's own CPU moves the
 * bytes of foreign memory (dmki_region_register_foreign()), by the sim
 * device (sim.c) and the bounce copies (dma.c).
 */
#ifndef DMK_NOFAULT_PRIV_H
#define DMK_NOFAULT_PRIV_H

#include <stddef.h>
#include <sys/uio.h>

/* Most entries a side of one dmki_copy_nofault(). */
#define DMKI_NOFAULT_IOV 64

/*
 * dmki_copy_nofault() - move bytes within this process; a fault is an error
 * @dst: where the bytes go, in order (@ndst entries).
 * @src: where they come from, in order (@nsrc entries); as many bytes in
 *	all as @dst holds.
 *
 * At most DMKI_NOFAULT_IOV entries a side.
 *
 * Return: 0; -EFAULT when a page of either side could not be faulted in
 * (the bytes before it may have moved); -EINVAL for more entries or unequal
 * totals; another negative errno of process_vm_readv() (-ENOSYS, or -EPERM
 * from a seccomp filter).
 */
int dmki_copy_nofault(const struct iovec *dst, unsigned ndst, const struct iovec *src,
		      unsigned nsrc);

#endif
