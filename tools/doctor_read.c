/* SPDX-License-Identifier: MIT */
/* dmakit doctor: printing a fact, and reading sysfs, procfs and /lib/modules. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "doctor.h"

void doc_fact(const char *key, const char *value, const char *fmt, ...)
{
	va_list ap;

	printf("%s: %s -- ", key, value);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

int doc_read_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

int doc_link_name(const char *path, char *buf, size_t size)
{
	char target[PATH_MAX];
	const char *slash;
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return -errno;
	target[n] = 0;
	slash = strrchr(target, '/');
	snprintf(buf, size, "%s", slash ? slash + 1 : target);
	return 0;
}

long doc_count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* "kernel/drivers/uio/uio_pci_generic.ko.xz:" names module @name ('-' == '_'). */
static bool names_module(const char *line, const char *name)
{
	size_t end = strcspn(line, ":\n"), start = end, i;
	const char *ko;

	while (start && line[start - 1] != '/')
		start--;
	ko = strstr(line + start, ".ko");
	if (!ko || ko > line + end || (size_t)(ko - (line + start)) != strlen(name))
		return false;
	for (i = 0; name[i]; i++) {
		char a = line[start + i] == '-' ? '_' : line[start + i];
		char b = name[i] == '-' ? '_' : name[i];

		if (a != b)
			return false;
	}
	return true;
}

bool doc_module_on_disk(const char *name)
{
	static const char *const lists[] = { "modules.dep", "modules.builtin" };
	struct utsname u;
	char path[PATH_MAX], line[1024];

	if (uname(&u))
		return false;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		FILE *f;
		bool found = false;

		snprintf(path, sizeof(path), "/lib/modules/%s/%s", u.release, lists[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (!found && fgets(line, sizeof(line), f))
			found = names_module(line, name);
		fclose(f);
		if (found)
			return true;
	}
	return false;
}
