/* SPDX-License-Identifier: MIT */
/* dmakit tool: option parsing helpers shared by the subcommands. */
#ifndef DMAKIT_TOOL_OPTS_H
#define DMAKIT_TOOL_OPTS_H

#include <stdint.h>
#include <stdio.h>

/* Exit codes of the tool. */
#define EXIT_USAGE 2	/* bad options */
#define EXIT_LIB 1	/* a library call failed */

/*
 * opt_parse_u64() - a number: decimal, 0x hex or 0 octal, the whole string
 * Return: 0, or -1 when @s is not a number or does not fit in 64 bits.
 */
int opt_parse_u64(const char *s, uint64_t *out);

/*
 * opt_parse_size() - a byte count with an optional binary suffix K, M, G, T
 * (also KiB, MiB, GiB, TiB; case-insensitive), e.g. "4K", "1M", "0x1000".
 * Return: 0, or -1 when malformed or overflowing.
 */
int opt_parse_size(const char *s, uint64_t *out);

/* Print "PROG: message" to stderr, a hint to --help, and exit 2. */
void opt_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* Print "PROG: WHAT: dmk_last_error() (strerror(-err))" and exit 1. */
void opt_lib_error(const char *prog, const char *what, int err) __attribute__((noreturn));

/* Human-readable size ("4 KiB", "1.5 MiB", "123 B") into @buf. */
const char *opt_fmt_size(uint64_t n, char *buf, size_t len);

#endif
