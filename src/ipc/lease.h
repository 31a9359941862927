/* SPDX-License-Identifier: MIT */
/*
 * Internal: the daemon's side of the lease route (include/dmakit/ipc.h).
 *
 * A lease is an IOVA window [base, base + size) of the daemon's vfio space,
 * reserved for one connection: the client receives the container's
 * descriptor and maps its own memory (VFIO_IOMMU_MAP_DMA) at IOVAs inside
 * the window, then tells the daemon (va, length, iova) for each buffer. The
 * daemon records them, and turns READ/WRITE on such a handle into device
 * addresses iova + offset, checked against the window and the record. When
 * the connection closes the whole window is unmapped from the container and
 * returned. The bookkeeping functions are pure (no VFIO) for unit tests.
 */
#ifndef DMK_IPC_LEASE_H
#define DMK_IPC_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dmk_space;

struct dmki_lease_reg {
	uint64_t handle;
	uint64_t iova;		/* device address of the buffer's first byte */
	uint64_t len;
	uint64_t va;		/* the client's address, for the log */
	unsigned prot;
};

struct dmki_lease {
	struct dmk_space *space;	/* vfio; NULL in unit tests */
	uint64_t base, size;
	struct dmki_lease_reg *regs;
	size_t n;
};

/* A lease over [@base, @base + @size) with no registrations, no space. */
void dmki_lease_init(struct dmki_lease *l, uint64_t base, uint64_t size);
void dmki_lease_fini(struct dmki_lease *l);

/*
 * dmki_lease_check() - may [@iova, @iova + @len) be registered?
 * Return: 0; -EINVAL for a zero length or a range that wraps; -ERANGE when
 * any byte lies outside the window; -EEXIST when a page of it is a page of
 * another registration of the lease. @why (@cap bytes) says which.
 */
int dmki_lease_check(const struct dmki_lease *l, uint64_t iova, uint64_t len, char *why,
		     size_t cap);

/* dmki_lease_check(), then record it. Return: its errors; -ENOMEM. */
int dmki_lease_add(struct dmki_lease *l, const struct dmki_lease_reg *r, char *why, size_t cap);

/* The registration of @handle, or NULL. */
const struct dmki_lease_reg *dmki_lease_find(const struct dmki_lease *l, uint64_t handle);

/* Forget @handle. Return: 0; -ENOENT. */
int dmki_lease_remove(struct dmki_lease *l, uint64_t handle);

/*
 * dmki_lease_io() - the device address of bytes @off..@off+@len of @handle
 * @need: DMK_PROT_WRITE for a disk read (the device writes), DMK_PROT_READ
 *	for a disk write.
 * Checks again, whatever was recorded: the handle is one of the lease, the
 * bytes lie in its registration and in the window, the protection allows
 * it. Return: 0 with *@dev set; -EPERM (not a handle of the lease);
 * -EINVAL (past the registration); -ERANGE (outside the window); -EACCES.
 */
int dmki_lease_io(const struct dmki_lease *l, uint64_t handle, unsigned need, uint64_t off,
		  uint64_t len, uint64_t *dev, char *why, size_t cap);

/*
 * dmki_lease_open() - reserve a window of @size bytes (rounded up to pages)
 * in vfio space @sp for one client. Return: 0; -ENOTSUP when @sp is not a
 * vfio space; the errors of the IOVA allocation; -ENOMEM.
 */
int dmki_lease_open(struct dmk_space *sp, uint64_t size, struct dmki_lease **out);

/*
 * dmki_lease_close() - unmap the whole window from the container and give
 * it back (@keep: keep its IOVAs reserved for good, when a command given up
 * on may still reach them); free @l. Only once nothing of the client is on
 * the device. *@unmapped (may be NULL) receives the bytes the kernel
 * unmapped.
 * Return: 0; the kernel's refusal (the window then stays reserved).
 */
int dmki_lease_close(struct dmki_lease *l, bool keep, uint64_t *unmapped);

#endif
