/* SPDX-License-Identifier: MIT */
/* Internal: making a registration's pages the process's own before a pin (fault.c). */
#ifndef DMK_FAULT_H
#define DMK_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * dmki_populate_write_supported() - does the kernel have MADV_POPULATE_WRITE
 *
 * Probed once per process on a page of its own (Linux 5.14 and later
 * answer 0; older kernels EINVAL for an advice they do not know).
 */
bool dmki_populate_write_supported(void);

/*
 * dmki_fault_in() - fault [@va, @va + @len) in before it is pinned or its frames read
 * @va, @len: page aligned.
 * @prot: DMK_PROT_* of the registration: what the device may do.
 * @writable: NULL, or receives true when every page is now written-faulted (the
 *	mapping is writable by the process), false when the mapping is read
 *	only and the device only reads it, or when the kernel cannot tell
 *	(no MADV_POPULATE_WRITE: see dmki_populate_write_supported()).
 *
 * Where the process may write the memory, every page is write-faulted
 * with MADV_POPULATE_WRITE: never-touched anonymous pages get frames of
 * their own instead of the shared zero page, and pages shared copy-on-write
 * are copied now. A pin taken afterwards, with or without FOLL_WRITE, holds
 * the frame the process goes on writing, whatever the kernel's pinning
 * rules for the zero page and for read-only pins (they changed in 6.5).
 *
 * Return: 0; -EACCES when @prot lets the device write but the process may
 * not (a read-only or PROT_NONE mapping, device memory): the device would
 * write the shared zero page or a file's page cache; -EFAULT when part of
 * the range is not mapped or a page cannot be faulted in (SIGBUS: a file
 * mapping past its end, an empty hugetlb pool); -EIO for a poisoned page.
 * dmk_last_error() says which.
 */
int dmki_fault_in(uintptr_t va, size_t len, unsigned prot, bool *writable);

#endif
