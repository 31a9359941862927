/* SPDX-License-Identifier: MIT */
/*
 * Guest test of `dmakit doctor` (tools/cmd_doctor.c, linked in: the guest
 * has no shared libraries), in both boots of the test bed. The doctor runs
 * in a child whose stdout is a pipe, as `dmakit doctor` would; its report
 * is printed, then checked against what the test bed set up: the kernel,
 * the IOMMU on (iommu boot) or off (no-IOMMU boot), VFIO type1 available or
 * uio_pci_generic available, every QEMU nvme (1b36:0010) and edu
 * (1234:11e8) device on vfio-pci in its IOMMU group or on
 * uio_pci_generic, the PCI device count, pagemap frames and the phys space
 * as root; and a bad option refused with exit status 2.
 *
 * Environment (testbed/run): DMK_TESTBED_MODE, DMK_NVME_BDFS, DMK_EDU_BDFS.
 * Prints "PASS name" or "FAIL name: why" per check; exits 1 when any
 * failed, 2 when the set-up failed.
 */
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "vmcheck.h"

#define OUT_MAX (64 * 1024)

static char out[OUT_MAX];

/* Run the doctor with @args (NULL-terminated after argv[0]) into out[]; its exit status. */
static int doctor(char **args)
{
	int p[2], status;
	size_t n = 0;
	ssize_t got;
	pid_t pid;

	if (pipe(p))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int argc = 0;

		while (args[argc])
			argc++;
		close(p[0]);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		close(p[1]);
		exit(cmd_doctor(argc, args));
	}
	close(p[1]);
	while (n < sizeof(out) - 1 && (got = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
		n += (size_t)got;
	out[n] = 0;
	close(p[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* VALUE of the line "KEY: VALUE -- ..." (whose VALUE starts with @first when
 * not NULL), copied into @v; false when there is none. */
static bool fact(const char *key, const char *first, char *v, size_t size)
{
	size_t kl = strlen(key);

	for (const char *l = out; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
		const char *val = l + kl + 2, *end = strstr(l, " -- "), *nl = strchr(l, '\n');

		if (strncmp(l, key, kl) || strncmp(l + kl, ": ", 2) || !end || (nl && end > nl))
			continue;
		if (first && strncmp(val, first, strlen(first)))
			continue;
		snprintf(v, size, "%.*s", (int)(end - val), val);
		return true;
	}
	snprintf(v, size, "(no such line)");
	return false;
}

static void expect(const char *key, const char *want)
{
	char v[256], name[64];

	fact(key, NULL, v, sizeof(v));
	snprintf(name, sizeof(name), "doctor_%s", key);
	for (char *c = name; *c; c++)
		if (*c == ' ' || *c == '-')
			*c = '_';
	result(!strcmp(v, want), name, "'%s: %s', expected '%s'", key, v, want);
}

/* Every line "KEY: VALUE -- MEANING". */
static void check_format(void)
{
	int bad = 0, lines = 0;

	for (const char *l = out; *l;) {
		const char *nl = strchr(l, '\n'), *colon = strstr(l, ": "), *dash = strstr(l, " -- ");
		const char *end = nl ? nl : l + strlen(l);

		lines++;
		if (!colon || !dash || colon > end || dash > end || dash < colon) {
			if (!bad++)
				printf("not KEY: VALUE -- MEANING: %.*s\n", (int)(end - l), l);
		}
		l = nl ? nl + 1 : end;
	}
	result(lines > 20 && !bad, "doctor_format", "%d lines, %d not KEY: VALUE -- MEANING", lines, bad);
}

/* The pci line of every device in @bdfs: IDs, driver and group as set up. */
static void check_devices(const char *what, const char *bdfs, const char *ids, bool iommu)
{
	char list[512], *save = NULL;
	int seen = 0;

	snprintf(list, sizeof(list), "%s", bdfs ? bdfs : "");
	for (char *bdf = strtok_r(list, " ", &save); bdf; bdf = strtok_r(NULL, " ", &save)) {
		char path[PATH_MAX], target[PATH_MAX], want[128], v[256], name[64];
		const char *group = "none", *slash;
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			slash = strrchr(target, '/');
			group = slash ? slash + 1 : target;
		}
		snprintf(want, sizeof(want), "%s %s class", bdf, ids);
		fact("pci", want, v, sizeof(v));
		snprintf(name, sizeof(name), "doctor_pci_%s_%s", what, bdf);
		snprintf(want, sizeof(want), " driver %s group %.32s", iommu ? "vfio-pci" : "uio_pci_generic",
			 iommu ? group : "none");
		result(strstr(v, ids) && strlen(v) > strlen(want) && !strcmp(v + strlen(v) - strlen(want), want),
		       name, "'pci: %s', expected '%s ...%s'", v, ids, want);
		if (iommu) {
			snprintf(name, sizeof(name), "doctor_group_%s_%s", what, bdf);
			result(strcmp(group, "none"), name, "no IOMMU group in the iommu boot");
		}
		seen++;
	}
	snprintf(list, sizeof(list), "doctor_pci_%s_found", what);
	result(seen > 0, list, "no %s device in the test bed's environment", what);
}

int main(void)
{
	const char *mode = getenv("DMK_TESTBED_MODE");
	char *args[] = { "doctor", NULL }, *bad[] = { "doctor", "--no-such-option", NULL };
	bool iommu = mode && !strcmp(mode, "iommu");
	struct utsname u;
	char v[256], count[32];
	long devices = 0;
	DIR *d;
	int rc;

	if (!mode) {
		printf("FAIL doctor: DMK_TESTBED_MODE unset (run by testbed/run)\n");
		return 2;
	}
	rc = doctor(args);
	fputs(out, stdout);
	result(rc == 0, "doctor_exit", "dmakit doctor exited %d", rc);
	check_format();
	uname(&u);
	expect("kernel", u.release);
	expect("user", "uid 0 euid 0");
	fact("iommu", NULL, v, sizeof(v));
	result(iommu ? !strncmp(v, "on (", 4) : !strcmp(v, "off"), "doctor_iommu",
	       "'iommu: %s' in the %s boot", v, mode);
	if (iommu)
		expect("vfio type1", "available");
	else
		expect("uio_pci_generic", "available");
	d = opendir("/sys/bus/pci/devices");
	for (struct dirent *e; d && (e = readdir(d));)
		devices += e->d_name[0] != '.';
	if (d)
		closedir(d);
	snprintf(count, sizeof(count), "%ld", devices);
	expect("pci devices", count);
	check_devices("nvme", getenv("DMK_NVME_BDFS"), "1b36:0010", iommu);
	check_devices("edu", getenv("DMK_EDU_BDFS"), "1234:11e8", iommu);
	expect("pagemap", "frames shown");
	expect("phys space", "usable");
	expect("lease route", "granted (root)");

	rc = doctor(bad);
	result(rc == 2 && strstr(out, "--no-such-option"), "doctor_bad_option",
	       "exit %d, output '%s'", rc, out);
	return failures ? 1 : 0;
}
