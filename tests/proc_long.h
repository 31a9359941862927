/* SPDX-License-Identifier: MIT */
/*
 * Test helpers: a number read from or written to a file of /proc or /sys
 * (vm.nr_hugepages and the like).
 */
#ifndef DMK_TESTS_PROC_LONG_H
#define DMK_TESTS_PROC_LONG_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The number in @path, or -1 when it cannot be read. */
static inline long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return got > 0 ? atol(buf) : -1;
}

/* Write @v to @path: 0, or -1 when the kernel refused it. */
static inline int write_long(const char *path, long v)
{
	char buf[64];
	int fd = open(path, O_WRONLY | O_CLOEXEC), len, ok;

	if (fd < 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "%ld\n", v);
	ok = write(fd, buf, (size_t)len) == len;
	close(fd);
	return ok ? 0 : -1;
}

#endif
