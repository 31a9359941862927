/* SPDX-License-Identifier: MIT */
/*
 * What the guest tests that write a disk share: a 13-byte pattern from a
 * seed (13, so that it never lines up with a block), filling and checking
 * buffers with it, and the DMKCHECK line that has testbed/run find it in
 * the NVMe backing file after the VM stopped.
 */
#ifndef DMK_VMPATTERN_H
#define DMK_VMPATTERN_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PAT_LEN 13

static inline void pattern(uint8_t pat[PAT_LEN], unsigned seed)
{
	for (unsigned i = 0; i < PAT_LEN; i++)
		pat[i] = (uint8_t)(0x11 * (seed % 15 + 1) + i * 29 + seed / 15);
}

static inline void fill_pat(uint8_t *p, size_t n, const uint8_t pat[PAT_LEN])
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat[i % PAT_LEN];
}

static inline void fill_seed(uint8_t *p, size_t n, unsigned seed)
{
	uint8_t pat[PAT_LEN];

	pattern(pat, seed);
	fill_pat(p, n, pat);
}

/* The first byte of @p that is not pattern @seed, or -1. */
static inline long differs_seed(const uint8_t *p, size_t n, unsigned seed)
{
	uint8_t pat[PAT_LEN];

	pattern(pat, seed);
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat[i % PAT_LEN])
			return (long)i;
	return -1;
}

/* Ask the host to check that @len bytes at byte @offset of the disk hold @pat repeated. */
static inline void dmkcheck_pat(uint64_t offset, size_t len, const uint8_t pat[PAT_LEN])
{
	printf("DMKCHECK offset=%" PRIu64 " len=%zu pattern=", offset, len);
	for (int i = 0; i < PAT_LEN; i++)
		printf("%02x", pat[i]);
	printf("\n");
}

static inline void dmkcheck_seed(uint64_t offset, size_t len, unsigned seed)
{
	uint8_t pat[PAT_LEN];

	pattern(pat, seed);
	dmkcheck_pat(offset, len, pat);
}

#endif
