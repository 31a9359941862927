/* SPDX-License-Identifier: MIT */
/*
 * dmakit: a reference driver for QEMU's "edu" PCI device.
 *
 * edu (QEMU hw/misc/edu.c, vendor 0x1234, device 0x11e8) has a 4 KiB
 * internal buffer and a DMA engine that moves one contiguous range between
 * that buffer and memory per command, with addresses masked to 28 bits. The
 * driver turns an application buffer (or an iovec) into segments under the
 * "edu" rules (dmk_dma_spec_preset()) and issues one edu command per
 * segment: software scatter-gather. Pieces the device cannot reach in place
 * go through a bounce pool below 2^28, and every transfer says which
 * segments did.
 *
 *	dmk_space_vfio_create(&sp);
 *	dmk_pci_open(sp, bdf, &dev);
 *	dmk_edu_open(sp, dev, NULL, &edu);
 *	dmk_region_register(sp, buf, len, DMK_PROT_RW, &r);
 *	dmk_edu_write(edu, 0, buf, len);      buf -> device buffer [0, len)
 *	dmk_edu_read(edu, 0, buf, len);       device buffer [0, len) -> buf
 *	dmk_region_unregister(r);
 *	dmk_edu_close(edu);
 *	dmk_pci_close(dev);
 *	dmk_space_destroy(sp);
 */
#ifndef DMAKIT_EDU_H
#define DMAKIT_EDU_H

#include <stddef.h>
#include <stdint.h>

#include <dmakit/dma.h>
#include <dmakit/mem.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_space;
struct dmk_pci;
struct dmk_mem;
struct dmk_edu;

/* DMK_EDU_BUF_SIZE - bytes in the device's internal DMA buffer. */
#define DMK_EDU_BUF_SIZE 4096u

/*
 * DMK_EDU_BUF_END - the first device-buffer offset no transfer may reach:
 * QEMU 7.2 aborts the whole VM on a DMA that ends exactly at the end of the
 * buffer (an off-by-one in its range check), so the last byte is never
 * transferred and a transfer ends at or before offset 4095.
 */
#define DMK_EDU_BUF_END (DMK_EDU_BUF_SIZE - 1)

/* DMK_EDU_REACH_BITS - address bits edu's DMA engine drives. */
#define DMK_EDU_REACH_BITS 28

/*
 * DMK_EDU_NO_REACH - dmk_edu_open() leaves the space's reach alone: memory
 * registered later may be placed anywhere the IOMMU allows, and the pieces
 * of a transfer that lie at or above 2^28 go through the bounce pool. For a
 * space shared with devices that reach further, whose registrations should
 * not all crowd into the low 256 MiB.
 */
#define DMK_EDU_NO_REACH (1u << 0)

/**
 * enum dmk_edu_wait - how the driver learns that an edu command finished
 * @DMK_EDU_WAIT_POLL: poll the command register's run bit.
 * @DMK_EDU_WAIT_MSI: ask for the DMA-completion interrupt and sleep on the
 *	MSI's eventfd, then acknowledge it in the interrupt-ack register.
 */
enum dmk_edu_wait {
	DMK_EDU_WAIT_POLL = 0,
	DMK_EDU_WAIT_MSI = 1,
};

/**
 * struct dmk_edu_opts - how to drive the device
 * @flags: %DMK_EDU_NO_REACH or 0.
 * @wait: see &enum dmk_edu_wait.
 * @timeout_ms: the longest one edu command may take; 0 for 5000. edu
 *	finishes a command 100 ms of virtual time after it starts.
 * @bounce_size: bytes of the bounce pool; 0 for 64 KiB.
 */
struct dmk_edu_opts {
	unsigned flags;
	enum dmk_edu_wait wait;
	unsigned timeout_ms;
	size_t bounce_size;
};

/**
 * struct dmk_edu_seg - one edu command of the last transfer
 * @addr: device address in memory (IOVA) the command read or wrote.
 * @len: bytes it moved.
 * @buf_off: offset in the device's buffer of its first byte.
 * @bounced: 1 when @addr lies in the bounce pool (the bytes were copied
 *	between the caller's memory and the pool), 0 when the device went to
 *	the caller's memory in place.
 */
struct dmk_edu_seg {
	uint64_t addr;
	uint32_t len;
	uint32_t buf_off;
	int bounced;
};

/**
 * struct dmk_edu_xfer - what the last transfer did
 * @len: bytes it moved.
 * @nsegs: edu commands it issued, one a segment.
 * @prepares: DMA prepares it took (more than one when a prepare covered
 *	only a prefix).
 * @bounced: bytes routed through the bounce pool (dmk_dma_info()).
 * @bounce_segs: segments that lie in the bounce pool.
 * @irqs: completion interrupts received (%DMK_EDU_WAIT_MSI).
 */
struct dmk_edu_xfer {
	uint64_t len;
	size_t nsegs;
	size_t prepares;
	uint64_t bounced;
	size_t bounce_segs;
	uint64_t irqs;
};

/**
 * dmk_edu_open() - take charge of an edu device
 * @space: the vfio space @pci was opened in; it also holds the buffers the
 *	caller passes later.
 * @pci: the device, opened with dmk_pci_open(); not owned: close it after
 *	dmk_edu_close().
 * @opts: how to drive it, or NULL for polling, 5 s, a 64 KiB pool and the
 *	28-bit reach on the space.
 * @out: receives the driver handle.
 *
 * Maps BAR0, checks the identification register (0x010000ed: edu 1.0),
 * enables bus mastering, sets the device's reach to 28 bits (unless
 * %DMK_EDU_NO_REACH), creates a bounce pool in @space below 2^28 and a DMA
 * command under the "edu" rules, and with %DMK_EDU_WAIT_MSI routes the MSI
 * to an eventfd. With %DMK_EDU_NO_REACH the reach is set only while the pool
 * is registered, then lifted again.
 *
 * Thread safety: safe; nothing else may drive @pci's DMA or interrupts
 * while the handle lives.
 *
 * Return: 0; -EINVAL for a NULL argument, unknown @opts bits or wait mode,
 * @space not being vfio or not the space @pci was opened in; -ENODEV when the identification register is
 * not edu's; -ERANGE when memory already registered in @space lies above
 * 2^28 (without %DMK_EDU_NO_REACH), or when the pool could not be placed
 * below 2^28; -ENOTSUP when %DMK_EDU_WAIT_MSI is asked and the device has
 * no MSI; -EBUSY when @pci's interrupts are enabled already; -ENOMEM; the
 * errors of dmk_pci_map_bar(), dmk_pci_enable_bus_master(),
 * dmk_bounce_pool_create() and dmk_pci_irq_enable().
 */
int dmk_edu_open(struct dmk_space *space, struct dmk_pci *pci, const struct dmk_edu_opts *opts,
		 struct dmk_edu **out);

/**
 * dmk_edu_close() - release the driver
 * @edu: the handle, or NULL.
 *
 * Disables the interrupts it enabled and frees its command and bounce pool.
 * @pci and @space stay open; the reach set on @pci stays until
 * dmk_pci_close().
 *
 * Thread safety: not with any other use of @edu.
 *
 * Return: 0; -EBUSY when the device still runs a command after a timeout
 * (the handle stays usable for another close).
 */
int dmk_edu_close(struct dmk_edu *edu);

/**
 * dmk_edu_write() - copy a buffer into the device's buffer by DMA
 * @edu: the handle.
 * @buf_off: offset in the device's buffer of the first byte.
 * @buf: the caller's memory, registered in the space with at least
 *	%DMK_PROT_READ; any alignment.
 * @len: bytes, 1 or more; @buf_off + @len at most %DMK_EDU_BUF_END.
 *
 * Prepares @buf under the "edu" rules, issues one edu command per segment
 * (in place where the device reaches the memory, through the bounce pool
 * otherwise), waits for each as @opts said, and completes the command.
 * dmk_edu_last() then says which segments were bounced.
 *
 * Thread safety: safe; transfers on one handle are serialised.
 *
 * Return: 0; -EINVAL for a zero @len, a range beyond %DMK_EDU_BUF_END or a
 * NULL @buf; -EFAULT when a byte of @buf is not registered for the device
 * to read (nothing was moved); -ENOBUFS when the bounce pool is full;
 * -ETIMEDOUT when an edu command did not finish in time (the handle then
 * refuses every call but dmk_edu_close() with -EIO); -EIO after such a
 * timeout; the errors of dmk_dma_prepare().
 */
int dmk_edu_write(struct dmk_edu *edu, uint32_t buf_off, const void *buf, size_t len);

/**
 * dmk_edu_read() - copy the device's buffer into memory by DMA
 * @edu: the handle.
 * @buf_off: offset in the device's buffer of the first byte.
 * @buf: the caller's memory, registered with at least %DMK_PROT_WRITE.
 * @len: bytes, 1 or more; @buf_off + @len at most %DMK_EDU_BUF_END.
 *
 * As dmk_edu_write(), the other way; bounced bytes are copied into @buf
 * before it returns.
 *
 * Thread safety: safe; transfers on one handle are serialised.
 *
 * Return: as dmk_edu_write(); on -EFAULT @buf is untouched.
 */
int dmk_edu_read(struct dmk_edu *edu, uint32_t buf_off, void *buf, size_t len);

/**
 * dmk_edu_write_mem() - copy a slice of a descriptor into the device's buffer
 * @edu: the handle.
 * @buf_off: offset in the device's buffer of the first byte.
 * @mem: the descriptor (an iovec), %DMK_TO_DEVICE or %DMK_BIDIRECTIONAL,
 *	every byte registered; not owned.
 * @offset: first byte of the slice within @mem.
 * @len: bytes of the slice; @buf_off + @len at most %DMK_EDU_BUF_END.
 *
 * Thread safety: safe; transfers on one handle are serialised. @mem must
 * not be reset meanwhile.
 *
 * Return: as dmk_edu_write(), and -EINVAL for a NULL @mem, a wrong
 * direction or a slice outside @mem.
 */
int dmk_edu_write_mem(struct dmk_edu *edu, uint32_t buf_off, const struct dmk_mem *mem,
		      uint64_t offset, size_t len);

/**
 * dmk_edu_read_mem() - copy the device's buffer into a slice of a descriptor
 * @edu: the handle.
 * @buf_off: offset in the device's buffer of the first byte.
 * @mem: the descriptor, %DMK_FROM_DEVICE or %DMK_BIDIRECTIONAL; not owned.
 * @offset: first byte of the slice within @mem.
 * @len: bytes of the slice; @buf_off + @len at most %DMK_EDU_BUF_END.
 *
 * Thread safety: safe; transfers on one handle are serialised.
 *
 * Return: as dmk_edu_write_mem().
 */
int dmk_edu_read_mem(struct dmk_edu *edu, uint32_t buf_off, const struct dmk_mem *mem,
		     uint64_t offset, size_t len);

/**
 * dmk_edu_last() - what the last transfer did, segment by segment
 * @edu: the handle.
 * @xfer: receives the totals; may be NULL.
 * @nsegs: receives how many segments the returned array holds; may be NULL.
 *
 * Describes the last transfer that moved bytes (a failed one describes what
 * it issued before failing).
 *
 * Thread safety: not with transfers on @edu.
 *
 * Return: the segments, in transfer order, owned by @edu and valid until
 * its next transfer; NULL when none was made.
 */
const struct dmk_edu_seg *dmk_edu_last(const struct dmk_edu *edu, struct dmk_edu_xfer *xfer,
				       size_t *nsegs);

/**
 * dmk_edu_bounce_stats() - the counters of the driver's bounce pool
 * @edu: the handle.
 * @stats: receives them (dmk_bounce_pool_stats()).
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a NULL argument.
 */
int dmk_edu_bounce_stats(struct dmk_edu *edu, struct dmk_bounce_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_EDU_H */
