/* SPDX-License-Identifier: MIT */
/*
 * dmakit: the NVMe reference driver, a user-space NVMe controller driver
 * over VFIO.
 *
 * The controller is opened on a PCI device already open in a vfio space
 * (<dmakit/pci.h>). dmk_nvme_open() resets and enables it, sets up the admin
 * queue, identifies the controller and one namespace, and creates I/O queue
 * pairs. Queue memory, PRP list pages and SGL segment pages are allocated
 * and registered once, there; an I/O never allocates or maps.
 *
 * Reads and writes move data straight between the namespace and the
 * caller's memory: the caller registers its buffer in the same space
 * (dmk_region_register()) and the controller is handed the buffer's device
 * addresses, as PRP lists or as SGLs. Nothing is copied, except pieces that
 * break a rule of the chosen data pointer (a PRP buffer not dword-aligned)
 * when the controller was opened with a bounce pool, and then visibly
 * (struct dmk_nvme_stats). Memory that is not registered is refused with
 * -EFAULT, never copied. A transfer larger than what one command can carry
 * (the controller's MDTS, the list pages of one command) is split into as
 * many commands as needed, in flight together up to the queue depth.
 *
 *	dmk_space_vfio_create(&sp);
 *	dmk_pci_open(sp, "0000:00:02.0", &pci);
 *	dmk_nvme_open(sp, pci, NULL, &ctrl);
 *	posix_memalign(&buf, 4096, len);
 *	dmk_region_register(sp, buf, len, DMK_PROT_RW, &r);
 *	dmk_nvme_read_buf(ctrl, 0, lba, buf, len, 0);
 *	dmk_region_unregister(r);
 *	dmk_nvme_close(ctrl);
 *	dmk_pci_close(pci);
 *	dmk_space_destroy(sp);
 *
 * dmk_nvme_read() and dmk_nvme_write() wait for their commands; for more
 * than one command in flight on one thread, dmk_nvme_submit_buf() starts a
 * command and dmk_nvme_reap() collects the ended ones.
 *
 * Errors: every NVMe status other than success becomes -EIO, with the
 * status named in dmk_last_error() ("NVMe status 0x0/0x04 Data Transfer
 * Error (DNR) on read of LBA 0+8, queue 1, cid 3"); a command that does not
 * complete within the timeout is -ETIMEDOUT.
 */
#ifndef DMAKIT_NVME_H
#define DMAKIT_NVME_H

#include <stddef.h>
#include <stdint.h>

#include <dmakit/dma.h>
#include <dmakit/mem.h>
#include <dmakit/spec.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_space;
struct dmk_pci;
struct dmk_nvme;

/**
 * enum dmk_nvme_dptr - how a command points at its data
 * @DMK_NVME_DPTR_AUTO: SGLs when the controller supports them for I/O
 *	commands, PRPs otherwise.
 * @DMK_NVME_DPTR_PRP: PRP entries and PRP lists. Buffers must be
 *	dword-aligned and every piece but the first must start, and every
 *	piece but the last end, on a controller page (4 KiB); other pieces
 *	bounce when the controller has a bounce pool, else fail with -EINVAL.
 * @DMK_NVME_DPTR_SGL: SGL data block descriptors: any byte alignment, no
 *	bouncing. -ENOTSUP when the controller does not support SGLs.
 */
enum dmk_nvme_dptr {
	DMK_NVME_DPTR_AUTO = 0,
	DMK_NVME_DPTR_PRP = 1,
	DMK_NVME_DPTR_SGL = 2,
};

/* DMK_NVME_IO_PRP - flag of one read or write: use PRPs. */
#define DMK_NVME_IO_PRP (1u << 0)
/* DMK_NVME_IO_SGL - flag of one read or write: use SGLs. */
#define DMK_NVME_IO_SGL (1u << 1)

/**
 * struct dmk_nvme_opts - how to open a controller
 * @io_queues: I/O queue pairs to create, 1 to 64 (fewer when the
 *	controller grants fewer). Default 1.
 * @queue_depth: entries of each I/O queue, 2 to 4096, clamped to the
 *	controller's CAP.MQES + 1; one entry stays empty, so depth - 1
 *	commands are in flight at most. Default 64.
 * @admin_depth: entries of the admin queues, 2 to 4096. Default 32.
 * @timeout_ms: how long a command may take before it fails with
 *	-ETIMEDOUT. Default 10,000. Enabling and resetting the controller
 *	wait for what CAP.TO says instead.
 * @nsid: the namespace reads and writes address. Default 1.
 * @dptr: the data pointer used when a read or write does not choose one
 *	with its flags. Default %DMK_NVME_DPTR_AUTO.
 * @use_msix: 1 to wait for completions on MSI-X eventfds (one vector per
 *	queue when the device has enough, the admin queue included), 0 to
 *	poll the completion queues. Default 0.
 * @bounce_size: bytes of a bounce pool for PRP pieces that break a rule
 *	in place; 0 (the default) refuses such pieces with -EINVAL.
 * @max_transfer: most bytes one command moves, on top of the
 *	controller's MDTS; 0 (the default) for MDTS alone (and at most 1 MiB).
 *	Rounded down to whole logical blocks.
 */
struct dmk_nvme_opts {
	unsigned io_queues;
	unsigned queue_depth;
	unsigned admin_depth;
	unsigned timeout_ms;
	uint32_t nsid;
	enum dmk_nvme_dptr dptr;
	int use_msix;
	size_t bounce_size;
	uint64_t max_transfer;
};

/**
 * struct dmk_nvme_info - what a controller and its namespace are
 * @vid: PCI vendor ID from Identify Controller.
 * @serial: serial number, NUL-terminated, trailing spaces removed.
 * @model: model number, likewise.
 * @firmware: firmware revision, likewise.
 * @version: the VS register (major << 16 | minor << 8 | tertiary).
 * @cap: the CAP register.
 * @mqes: largest queue the controller allows (CAP.MQES + 1 entries).
 * @dstrd: doorbell stride in bytes (4 << CAP.DSTRD).
 * @ready_timeout_ms: how long enabling may take (CAP.TO).
 * @page_size: the controller memory page size in use (CC.MPS).
 * @mdts: largest transfer the controller takes in one command, in bytes;
 *	0 when it sets no limit.
 * @max_transfer: largest transfer this driver puts in one command, bytes.
 * @sgl: 1 when the controller supports SGLs for I/O commands.
 * @sgl_dword_aligned: 1 when its SGL data blocks must be dword-aligned.
 * @nn: namespaces the controller has.
 * @nsid: the namespace used.
 * @lba_size: bytes of its logical block in the current format.
 * @nlba: its size in logical blocks (NSZE).
 * @io_queues: I/O queue pairs created.
 * @queue_depth: entries of each.
 * @msix: 1 when completions are waited for on MSI-X eventfds.
 * @dptr: the default data pointer, never %DMK_NVME_DPTR_AUTO.
 */
struct dmk_nvme_info {
	uint16_t vid;
	char serial[21];
	char model[41];
	char firmware[9];
	uint32_t version;
	uint64_t cap;
	unsigned mqes;
	unsigned dstrd;
	unsigned ready_timeout_ms;
	uint64_t page_size;
	uint64_t mdts;
	uint64_t max_transfer;
	int sgl;
	int sgl_dword_aligned;
	uint32_t nn;
	uint32_t nsid;
	uint32_t lba_size;
	uint64_t nlba;
	unsigned io_queues;
	unsigned queue_depth;
	int msix;
	enum dmk_nvme_dptr dptr;
};

/**
 * struct dmk_nvme_stats - what the I/O queues have done since open
 * @commands: read and write commands completed.
 * @errors: commands that completed with an error status.
 * @timeouts: commands given up on after the timeout.
 * @bytes: bytes read and written.
 * @segments: data segments handed to the controller.
 * @prp_commands: commands that pointed at their data with PRPs.
 * @sgl_commands: commands that used SGLs.
 * @split: reads and writes that took more than one command.
 * @bounced: bytes that went through the bounce pool (copied).
 * @interrupts: MSI-X eventfd wake-ups.
 */
struct dmk_nvme_stats {
	uint64_t commands;
	uint64_t errors;
	uint64_t timeouts;
	uint64_t bytes;
	uint64_t segments;
	uint64_t prp_commands;
	uint64_t sgl_commands;
	uint64_t split;
	uint64_t bounced;
	uint64_t interrupts;
};

/**
 * dmk_nvme_opts_init() - fill options with the defaults
 * @opts: the options to fill.
 *
 * Thread safety: safe.
 */
void dmk_nvme_opts_init(struct dmk_nvme_opts *opts);

/**
 * dmk_nvme_open() - bring up an NVMe controller
 * @space: the vfio space @pci is open in, or a phys space for a @pci
 *	from dmk_pci_open_uio(); the driver's queues and list pages are
 *	registered there, and so must be the caller's buffers. In a phys
 *	space they take one 2 MiB hugetlb page (the controller needs each
 *	queue physically contiguous): reserve one first (vm.nr_hugepages).
 * @pci: the controller, open with dmk_pci_open() or dmk_pci_open_uio();
 *	it stays owned by the caller, who closes it after dmk_nvme_close().
 * @opts: options, or NULL for the defaults (dmk_nvme_opts_init()).
 * @out: receives the controller.
 *
 * Maps BAR0, enables bus mastering, disables the controller if it is
 * enabled and waits for it to stop (CAP.TO), programs the admin queue,
 * enables it with 4 KiB pages and waits for CSTS.RDY, identifies the
 * controller and namespace @opts->nsid, asks for the I/O queues (Set
 * Features, Number of Queues) and creates them, their completion queues
 * interrupting on MSI-X vectors when @opts->use_msix is set.
 *
 * Thread safety: safe; the controller is not shared until it is returned.
 *
 * Return: 0; -EINVAL for a bad option, a space that is not @pci's or a
 * device that is not an NVMe controller with 4 KiB pages and the NVM
 * command set, or queues too large for one huge page in a phys space;
 * -ENOTSUP for @opts->use_msix without MSI-X (never through uio), or
 * %DMK_NVME_DPTR_SGL without controller support; -ENODEV for a namespace
 * that does not exist or is not active; -ETIMEDOUT when the controller
 * does not become ready or an admin command does not complete; -EIO when
 * it reports a fatal status (CSTS.CFS) or an admin command fails (the
 * status is named); -ENOMEM, also when a phys space finds no huge page
 * reserved; the errors of dmk_pci_map_bar(), dmk_region_register() and
 * dmk_pci_irq_enable(). Nothing stays allocated
 * on error; the controller may be left disabled.
 */
int dmk_nvme_open(struct dmk_space *space, struct dmk_pci *pci,
		  const struct dmk_nvme_opts *opts, struct dmk_nvme **out);

/**
 * dmk_nvme_close() - shut a controller down and free it
 * @ctrl: the controller, or NULL.
 *
 * Deletes the I/O queues, shuts the controller down (CC.SHN, waiting for
 * CSTS.SHST up to CAP.TO) and disables it, disables its interrupts, and
 * releases the queue memory. Commands given up on after a timeout, and
 * asynchronous commands not yet reaped, are forgotten: the holds on their
 * buffers' registrations are released too. No call on @ctrl may be running.
 *
 * Thread safety: not with any other use of @ctrl.
 *
 * Return: 0, also when the controller did not acknowledge the shutdown in
 * time (it is disabled anyway).
 */
int dmk_nvme_close(struct dmk_nvme *ctrl);

/**
 * dmk_nvme_info() - describe a controller and its namespace
 * @ctrl: the controller.
 * @info: receives the description.
 *
 * Thread safety: safe.
 *
 * Return: 0.
 */
int dmk_nvme_info(const struct dmk_nvme *ctrl, struct dmk_nvme_info *info);

/**
 * dmk_nvme_stats() - read a controller's I/O counters
 * @ctrl: the controller.
 * @stats: receives the sums over all I/O queues.
 *
 * Thread safety: safe; counters of queues busy on other threads may be a
 * moment old.
 *
 * Return: 0.
 */
int dmk_nvme_stats(struct dmk_nvme *ctrl, struct dmk_nvme_stats *stats);

/**
 * dmk_nvme_dma_spec() - the DMA rules of one kind of data pointer
 * @ctrl: the controller.
 * @dptr: the data pointer; %DMK_NVME_DPTR_AUTO for the controller's default.
 * @spec: receives the rules the driver prepares transfers under: the
 *	segments a read or write of registered memory hands the controller
 *	are the segments dmk_dma_prepare() gives under @spec (per command:
 *	@spec's @max_transfer and @max_segs say how much one carries).
 *
 * For an application that wants to see its buffer's scatter-gather list,
 * or to lay its buffers out so that nothing bounces.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for an unknown @dptr; -ENOTSUP for SGLs on a
 * controller without them.
 */
int dmk_nvme_dma_spec(const struct dmk_nvme *ctrl, enum dmk_nvme_dptr dptr,
		      struct dmk_dma_spec *spec);

/**
 * dmk_nvme_read() - read logical blocks into registered memory
 * @ctrl: the controller.
 * @queue: the I/O queue pair, 0 to io_queues - 1.
 * @lba: first logical block of the namespace.
 * @mem: where the bytes go, %DMK_FROM_DEVICE or %DMK_BIDIRECTIONAL; its
 *	length is a whole number of logical blocks. Every byte must lie in
 *	memory registered in the controller's space with DMK_PROT_WRITE.
 * @flags: %DMK_NVME_IO_PRP or %DMK_NVME_IO_SGL to choose the data pointer,
 *	0 for the controller's default.
 *
 * Issues as many Read commands as the transfer needs (each within MDTS and
 * one command's list pages), keeps up to the queue depth of them in flight
 * and returns when all have completed. The controller writes straight into
 * @mem. On an error the commands already in flight are waited for before
 * returning; bytes of @mem may then hold data of the commands that
 * succeeded.
 *
 * Thread safety: safe; calls on the same queue are serialised (use one
 * queue per thread for parallelism).
 *
 * Return: 0; -EINVAL for a bad queue, direction, flags or a length that is
 * zero or not a whole number of blocks, or, for PRPs without a bounce pool,
 * a piece that breaks the PRP rules (named in dmk_last_error()); -ERANGE
 * when the blocks lie beyond the namespace; -EFAULT when a byte of @mem is
 * not registered (nothing is copied); -ENOTSUP for SGLs on a controller
 * without them; -ENOBUFS when the bounce pool is full; -EIO when the
 * controller completes a command with an error status (named in
 * dmk_last_error()); -ETIMEDOUT when a command does not complete within
 * the timeout (its buffer stays held by the driver until it completes or
 * the controller is closed: dmk_region_unregister() refuses it with
 * -EBUSY meanwhile); -EAGAIN when every slot of the queue is held by
 * commands given up on.
 */
int dmk_nvme_read(struct dmk_nvme *ctrl, unsigned queue, uint64_t lba,
		  const struct dmk_mem *mem, unsigned flags);

/**
 * dmk_nvme_write() - write logical blocks from registered memory
 * @ctrl: the controller.
 * @queue: the I/O queue pair.
 * @lba: first logical block.
 * @mem: the bytes, %DMK_TO_DEVICE or %DMK_BIDIRECTIONAL, a whole number of
 *	blocks, in memory registered with DMK_PROT_READ.
 * @flags: as dmk_nvme_read().
 *
 * As dmk_nvme_read(), the other way. A successful return means the
 * controller completed every Write command; it does not flush a volatile
 * write cache.
 *
 * Thread safety: as dmk_nvme_read().
 *
 * Return: as dmk_nvme_read().
 */
int dmk_nvme_write(struct dmk_nvme *ctrl, unsigned queue, uint64_t lba,
		   const struct dmk_mem *mem, unsigned flags);

/**
 * dmk_nvme_read_buf() - read logical blocks into one registered buffer
 * @ctrl: the controller.
 * @queue: the I/O queue pair.
 * @lba: first logical block.
 * @buf: the buffer, any alignment the data pointer allows.
 * @len: its length, a whole number of blocks.
 * @flags: as dmk_nvme_read().
 *
 * dmk_nvme_read() without a descriptor.
 *
 * Thread safety: as dmk_nvme_read().
 *
 * Return: as dmk_nvme_read().
 */
int dmk_nvme_read_buf(struct dmk_nvme *ctrl, unsigned queue, uint64_t lba, void *buf,
		      size_t len, unsigned flags);

/**
 * dmk_nvme_write_buf() - write logical blocks from one registered buffer
 * @ctrl: the controller.
 * @queue: the I/O queue pair.
 * @lba: first logical block.
 * @buf: the buffer.
 * @len: its length, a whole number of blocks.
 * @flags: as dmk_nvme_read().
 *
 * Thread safety: as dmk_nvme_read().
 *
 * Return: as dmk_nvme_write().
 */
int dmk_nvme_write_buf(struct dmk_nvme *ctrl, unsigned queue, uint64_t lba, const void *buf,
		       size_t len, unsigned flags);

/**
 * enum dmk_nvme_op - what an asynchronous command does
 * @DMK_NVME_OP_READ: read blocks into memory.
 * @DMK_NVME_OP_WRITE: write blocks from memory.
 */
enum dmk_nvme_op {
	DMK_NVME_OP_READ = 0,
	DMK_NVME_OP_WRITE = 1,
};

/**
 * struct dmk_nvme_done - one asynchronous command that ended
 * @tag: the tag it was submitted with.
 * @err: 0; -EIO when the controller completed it with an error status;
 *	-ETIMEDOUT when it did not complete within the timeout (it is given
 *	up on: its buffer stays held by the driver until it completes or the
 *	controller is closed).
 * @status: the completion's status field (0 on success, and for a
 *	timeout); dmk_nvme_status_str() names it.
 */
struct dmk_nvme_done {
	uint64_t tag;
	int err;
	uint16_t status;
};

/**
 * dmk_nvme_submit_buf() - start one read or write, do not wait
 * @ctrl: the controller.
 * @queue: the I/O queue pair.
 * @op: %DMK_NVME_OP_READ or %DMK_NVME_OP_WRITE.
 * @lba: first logical block.
 * @buf: registered memory, as dmk_nvme_read_buf(); it belongs to the
 *	controller until dmk_nvme_reap() returns the command.
 * @len: a whole number of blocks that fits one command (at most
 *	dmk_nvme_info()'s @max_transfer, in at most one command's segments).
 * @flags: as dmk_nvme_read().
 * @tag: any value; dmk_nvme_reap() gives it back.
 *
 * One command, prepared and written to the submission queue, the doorbell
 * rung. For queue depths above one on one thread; dmk_nvme_read() and the
 * other calls may be used on the same queue meanwhile.
 *
 * Thread safety: as dmk_nvme_read().
 *
 * Return: 0; -EAGAIN when every slot of the queue is in flight (reap
 * first); -E2BIG when the transfer needs more than one command (nothing is
 * submitted); the other errors of dmk_nvme_read() found before submitting
 * (-EINVAL, -ERANGE, -EFAULT, -ENOTSUP, -ENOBUFS).
 */
int dmk_nvme_submit_buf(struct dmk_nvme *ctrl, unsigned queue, enum dmk_nvme_op op, uint64_t lba,
			void *buf, size_t len, unsigned flags, uint64_t tag);

/**
 * dmk_nvme_reap() - collect asynchronous commands that ended
 * @ctrl: the controller.
 * @queue: the I/O queue pair.
 * @done: receives the commands, in the order they completed.
 * @max: room in @done; at least 1.
 * @min: wait until at least this many have ended (0: only take what has),
 *	or until none is left in flight.
 * @count: receives how many were written to @done.
 *
 * Waits by polling or on the queue's MSI-X eventfd. A command older than
 * the timeout ends with -ETIMEDOUT in its entry, also when @min is 0 (it
 * is given up on when the call finds it late, without waiting).
 *
 * Thread safety: as dmk_nvme_read().
 *
 * Return: 0 (each command's own result is in @done); -EINVAL for a bad
 * queue, @max of 0 or @min above @max.
 */
int dmk_nvme_reap(struct dmk_nvme *ctrl, unsigned queue, struct dmk_nvme_done *done,
		  unsigned max, unsigned min, unsigned *count);

/**
 * dmk_nvme_flush() - make written blocks durable
 * @ctrl: the controller.
 * @queue: the I/O queue pair.
 *
 * One Flush command for the namespace.
 *
 * Thread safety: as dmk_nvme_read().
 *
 * Return: 0; -EINVAL for a bad queue; -EIO; -ETIMEDOUT.
 */
int dmk_nvme_flush(struct dmk_nvme *ctrl, unsigned queue);

/**
 * dmk_nvme_passthru() - submit a raw command and wait for it
 * @ctrl: the controller.
 * @queue: -1 for the admin queue, or an I/O queue pair.
 * @cmd: the 64-byte submission queue entry as 16 dwords in host order; the
 *	command identifier (CDW0 bits 31:16) is replaced by the driver's.
 *	Data pointers are used as given: they are device addresses the
 *	caller vouches for (dmk_space_translate() of registered memory); the
 *	driver neither checks nor holds them.
 * @timeout_ms: how long to wait; 0 for the controller's timeout.
 * @result: receives dword 0 of the completion, or NULL.
 *
 * For commands the driver has no call for, and for tests that make the
 * controller touch memory on purpose. A command given up on after the
 * timeout keeps its slot until it completes (an Asynchronous Event
 * Request may never).
 *
 * Thread safety: as dmk_nvme_read(); admin commands are serialised with
 * each other.
 *
 * Return: 0; -EINVAL for a bad queue or a NULL @cmd; -EIO when the
 * command completes with an error status (named in dmk_last_error());
 * -EAGAIN when the queue is full of commands given up on; -ETIMEDOUT.
 */
int dmk_nvme_passthru(struct dmk_nvme *ctrl, int queue, const uint32_t cmd[16],
		      unsigned timeout_ms, uint32_t *result);

/**
 * dmk_nvme_status_str() - name an NVMe completion status
 * @status: the status field of a completion (dword 3 bits 31:17, that is
 *	without the phase tag): Status Code in bits 7:0, Status Code Type in
 *	bits 10:8, More in bit 13, Do Not Retry in bit 14.
 *
 * Thread safety: safe.
 *
 * Return: a constant string such as "Data Transfer Error", "LBA Out of
 * Range" or "Invalid Field in Command"; "Unknown status" for codes it
 * does not know; "Successful Completion" for 0.
 */
const char *dmk_nvme_status_str(uint16_t status);

/**
 * dmk_nvme_status_errno() - the errno dmakit reports for a status
 * @status: as dmk_nvme_status_str().
 *
 * Thread safety: safe.
 *
 * Return: 0 for success; -EIO for every error status.
 */
int dmk_nvme_status_errno(uint16_t status);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_NVME_H */
