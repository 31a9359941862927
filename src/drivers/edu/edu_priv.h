/* SPDX-License-Identifier: MIT */
/*
 * Internal: the edu driver's device-independent half, kept apart so that
 * host tests can run it on the sim space with a software edu.
 *
 * edu's registers (QEMU hw/misc/edu.c), BAR0: 0x00 identification, 0x24
 * interrupt status, 0x64 interrupt acknowledge (clears the bits written),
 * 0x80 DMA source, 0x88 DMA destination, 0x90 DMA count, 0x98 DMA command:
 * bit 0 run (the device clears it when done), bit 1 direction (0: memory to
 * the device's buffer, 1: the buffer to memory), bit 2 raise interrupt
 * 0x100 when done. The buffer sits at device address 0x40000. Writes to the
 * DMA registers are ignored while a command runs.
 */
#ifndef DMK_EDU_PRIV_H
#define DMK_EDU_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmakit/dma.h>
#include <dmakit/edu.h>
#include <dmakit/mem.h>

#define DMKI_EDU_REG_ID		0x00
#define DMKI_EDU_REG_IRQ_STATUS	0x24
#define DMKI_EDU_REG_IRQ_ACK	0x64
#define DMKI_EDU_REG_DMA_SRC	0x80
#define DMKI_EDU_REG_DMA_DST	0x88
#define DMKI_EDU_REG_DMA_CNT	0x90
#define DMKI_EDU_REG_DMA_CMD	0x98

#define DMKI_EDU_ID		0x010000edu
#define DMKI_EDU_CMD_RUN	0x1u
#define DMKI_EDU_CMD_TO_RAM	0x2u
#define DMKI_EDU_CMD_IRQ	0x4u
#define DMKI_EDU_IRQ_DMA	0x100u
#define DMKI_EDU_BUF_BASE	UINT64_C(0x40000)

/* One edu DMA command: the register values, run bit included. */
struct dmki_edu_cmd {
	uint64_t src;
	uint64_t dst;
	uint32_t cnt;
	uint32_t cmd;
};

/*
 * dmki_edu_check_range() - is [@buf_off, @buf_off + @len) a legal transfer
 * of the device's buffer? 0 or -EINVAL (with the reason).
 */
int dmki_edu_check_range(uint64_t buf_off, uint64_t len);

/*
 * dmki_edu_plan() - one edu command per segment
 * @segs: the segments of a prepared command, in transfer order.
 * @nsegs: how many (at least 1).
 * @buf_off: device-buffer offset of the first segment's first byte.
 * @to_ram: true when the device writes memory (dmk_edu_read()).
 * @cmd_bits: extra command bits (DMKI_EDU_CMD_IRQ) for every command.
 * @cmds: receives @nsegs commands.
 *
 * Checks every segment against what edu can do (1 to 4095 bytes, below
 * 2^28, inside the buffer before DMK_EDU_BUF_END); nothing is written to
 * @cmds beyond the first bad one. Return: 0 or -EINVAL (reason set).
 */
int dmki_edu_plan(const struct dmk_seg *segs, size_t nsegs, uint64_t buf_off, bool to_ram,
		  uint32_t cmd_bits, struct dmki_edu_cmd *cmds);

/* Runs one command to completion: 0, -ETIMEDOUT or another errno. */
typedef int (*dmki_edu_run_fn)(void *ctx, const struct dmki_edu_cmd *cmd);

/* What a transfer did, and room for its plan; zero-initialise, then reuse. */
struct dmki_edu_log {
	struct dmk_edu_xfer x;
	struct dmk_edu_seg *segs;
	size_t nsegs, segs_cap;
	struct dmki_edu_cmd *cmds;
	size_t cmds_cap;
};

void dmki_edu_log_free(struct dmki_edu_log *log);

/*
 * dmki_edu_transfer() - move @len bytes between memory and the buffer
 * @dma: an idle command under edu's rules, with @pool.
 * @pool: its bounce pool, or NULL (to tell bounced segments apart).
 * @mem: the descriptor, or NULL for @buf.
 * @buf: the buffer when @mem is NULL.
 * @offset: first byte within @mem (0 for @buf).
 * @len: bytes.
 * @to_ram: true when the device writes memory.
 * @buf_off: device-buffer offset of the first byte.
 * @cmd_bits: extra command bits.
 * @run: runs one command; @ctx is passed to it.
 * @log: receives what was done (reset first).
 *
 * Prepares (again from where the last prepare stopped, until all is
 * covered), plans, syncs for the device, runs every command, syncs for the
 * CPU and completes. When @run fails the command stays prepared (the
 * device may still use its addresses): *@stuck is set, and the caller
 * completes it once the device is known to be idle.
 * Return: 0; the errors of dmki_edu_check_range(), dmk_dma_prepare(),
 * dmki_edu_plan() and @run; -ENOMEM.
 */
int dmki_edu_transfer(struct dmk_dma *dma, struct dmk_bounce_pool *pool,
		      const struct dmk_mem *mem, void *buf, uint64_t offset, uint64_t len,
		      bool to_ram, uint64_t buf_off, uint32_t cmd_bits, dmki_edu_run_fn run,
		      void *ctx, struct dmki_edu_log *log, bool *stuck);

#endif
