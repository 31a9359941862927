/* SPDX-License-Identifier: MIT */
/* Internal: small arithmetic on addresses and powers of two. */
#ifndef DMK_BITS_H
#define DMK_BITS_H

#include <stdbool.h>
#include <stdint.h>

#define DMK_HOST_PAGE_SHIFT 12
#define DMK_HOST_PAGE ((uint64_t)1 << DMK_HOST_PAGE_SHIFT)

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Round down / up to a power of two @a. */
static inline uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static inline uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

#endif
