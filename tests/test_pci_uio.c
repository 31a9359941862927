/* SPDX-License-Identifier: MIT */
/*
 * dmk_pci_open_uio() on the host, where no device is bound to
 * uio_pci_generic: the refusals and what they say. The open itself, and
 * the NVMe driver on it, are tested in the no-IOMMU test bed
 * (tests/vm/test_nvme_uio.c).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <dmakit/error.h>
#include <dmakit/pci.h>

#define SYS_DEVICES "/sys/bus/pci/devices"

static void test_bad_arguments(void **state)
{
	struct dmk_pci *dev = NULL;

	(void)state;
	assert_int_equal(dmk_pci_open_uio("not-a-bdf", &dev), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "not a PCI address"));
	assert_null(dev);
	assert_int_equal(dmk_pci_open_uio(NULL, &dev), -EINVAL);
	assert_int_equal(dmk_pci_open_uio("0000:00:00.0", NULL), -EINVAL);
}

static void test_no_such_device(void **state)
{
	struct dmk_pci *dev = NULL;
	struct stat st;

	(void)state;
	if (!stat(SYS_DEVICES "/0000:ff:1f.7", &st))
		skip();
	assert_int_equal(dmk_pci_open_uio("0000:ff:1f.7", &dev), -ENODEV);
	assert_non_null(strstr(dmk_last_error(), "0000:ff:1f.7"));
	/* A missing domain is 0000, as for dmk_pci_open(). */
	assert_int_equal(dmk_pci_open_uio("ff:1f.7", &dev), -ENODEV);
	assert_non_null(strstr(dmk_last_error(), "0000:ff:1f.7"));
	assert_null(dev);
}

/* A real device, not bound to uio_pci_generic: -ENOENT, saying so. */
static void test_not_bound(void **state)
{
	char path[PATH_MAX], bdf[DMK_PCI_BDF_SIZE] = "";
	struct dmk_pci *dev = NULL;
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(SYS_DEVICES);

	(void)state;
	if (!d)
		skip();
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len >= sizeof(bdf))
			continue;
		snprintf(path, sizeof(path), SYS_DEVICES "/%s/uio", de->d_name);
		if (stat(path, &st)) {
			memcpy(bdf, de->d_name, len + 1);
			break;
		}
	}
	closedir(d);
	if (!bdf[0])
		skip();
	assert_int_equal(dmk_pci_open_uio(bdf, &dev), -ENOENT);
	assert_non_null(strstr(dmk_last_error(), "uio_pci_generic"));
	assert_null(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_no_such_device),
		cmocka_unit_test(test_not_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
