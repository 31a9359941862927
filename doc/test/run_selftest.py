#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-test of doc/kdoc2man.py on the headers in doc/test/fixture/.

  - fixture/good.h, where everything is documented, passes --check --strict;
  - fixture/bad.h gives exactly the problems listed in bad.expected;
  - the pages of good.h are the expected set, carry the exact prototype in
    their SYNOPSIS, and (when groff is installed) format without a warning;
  - the depfile names the header directory.

Usage: run_selftest.py PATH/TO/kdoc2man.py
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def fail(msg):
    failures.append(msg)
    print('FAIL: ' + msg)


def run(script, *args):
    return subprocess.run([sys.executable, script] + list(args), cwd=HERE,
                          capture_output=True, text=True)


def main():
    script = os.path.abspath(sys.argv[1])

    r = run(script, '--check', '--strict', 'fixture/good.h')
    if r.returncode != 0 or r.stdout:
        fail('good.h: --check --strict exit %d:\n%s' % (r.returncode, r.stdout))

    r = run(script, '--check', 'fixture/bad.h')
    with open(os.path.join(HERE, 'bad.expected'), encoding='utf-8') as f:
        expected = f.read().splitlines()
    got = r.stdout.splitlines()
    if r.returncode != 1:
        fail('bad.h: --check exit %d, not 1' % r.returncode)
    for line in expected:
        if line not in got:
            fail('bad.h: missing problem: ' + line)
    for line in got:
        if line not in expected:
            fail('bad.h: unexpected problem: ' + line)

    out = tempfile.mkdtemp()
    try:
        outdir = os.path.join(out, 'man3')
        os.makedirs(outdir)
        open(os.path.join(outdir, 'stale_page.3'), 'w').close()
        dep = os.path.join(out, 'man3.d')
        r = run(script, '--outdir', outdir, '--depfile', dep, '--date', '2000-01-01',
                '--version-string', '9.9', 'fixture')
        if r.returncode != 0:
            fail('generation exit %d: %s' % (r.returncode, r.stderr))
        pages = sorted(os.listdir(outdir))
        want = sorted(['DMK_FX_MAX.3', 'dmakit.3', 'dmk_fx.3type', 'dmk_fx_cb.3type',
                       'dmk_fx_free.3', 'dmk_fx_inc.3', 'dmk_fx_log.3', 'dmk_fx_mode.3type',
                       'dmk_fx_run.3',
                       # bad.h: what is documented gets a page all the same
                       'DMK_MAX.3', 'dmk_e.3type', 'dmk_inline.3', 'dmk_missing_param.3',
                       'dmk_right.3', 'dmk_s.3type', 'dmk_unnamed.3', 'dmk_vfmt.3',
                       'dmk_void.3'])
        if pages != want:
            fail('pages: %s, wanted %s' % (pages, want))

        with open(os.path.join(outdir, 'dmk_fx_run.3'), encoding='utf-8') as f:
            page = f.read()
        plain = re.sub(r'\\f[BIRP]', '', page)
        for line in ['.TH dmk_fx_run 3 2000-01-01 "dmakit 9.9" "dmakit Library Functions Manual"',
                     'dmk_fx_run \\- run the fixture over two lines of summary',
                     '.B #include <fixture/good.h>',
                     'int dmk_fx_run(const struct dmk_fx *fx,',
                     '               enum dmk_fx_mode mode,',
                     '               int64_t *out);',
                     '.SH ARGUMENTS', '.SH RETURN VALUE', '.SH THREAD SAFETY', '.SH SEE ALSO',
                     '\\&.A line starting with a dot, and a \\ebackslash.',
                     '.BR dmk_fx_free (3),', '.BR dmk_fx (3type),']:
            if line not in plain.splitlines():
                fail('dmk_fx_run.3: no line %r' % line)
        for frag in ['\\fBDMK_FX_A\\fR', '\\fIenum dmk_fx_mode\\fR', '\\fIfx\\fR',
                     '\\fBdmk_fx_run\\fR()', '\\fImode\\fB,', '\\-EINVAL']:
            if frag not in page:
                fail('dmk_fx_run.3: no %r' % frag)

        with open(os.path.join(outdir, 'dmk_fx.3type'), encoding='utf-8') as f:
            plain = re.sub(r'\\f[BIRP]', '', f.read())
        for line in ['        unsigned flag : 1;', '        } u;', '.SH MEMBERS', '.I u.q']:
            if line not in plain.splitlines():
                fail('dmk_fx.3type: no line %r' % line)

        with open(dep, encoding='utf-8') as f:
            deps = f.read()
        if not deps.startswith(outdir + ':') or ' fixture ' not in deps + ' ':
            fail('depfile: %r' % deps)

        groff = shutil.which('groff')
        if groff:
            for p in pages:
                g = subprocess.run([groff, '-man', '-Tutf8', '-ww', '-z', os.path.join(outdir, p)],
                                   capture_output=True, text=True, env=dict(os.environ, LC_ALL='C.UTF-8'))
                if g.returncode != 0 or g.stderr:
                    fail('%s: groff: %s' % (p, g.stderr.strip()))
        else:
            print('groff not installed: pages not formatted')
    finally:
        shutil.rmtree(out)

    if failures:
        print('%d failure(s)' % len(failures))
        return 1
    print('kdoc2man self-test: OK')
    return 0


if __name__ == '__main__':
    sys.exit(main())
