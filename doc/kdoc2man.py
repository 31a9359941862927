#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kdoc2man.py - man pages from the kernel-doc comments of C headers.

Usage:
    kdoc2man.py --outdir DIR [options] HEADER_OR_DIR...
    kdoc2man.py --check [--strict] HEADER_OR_DIR...
    kdoc2man.py --list HEADER_OR_DIR...

A directory argument stands for every *.h file directly inside it (sorted),
so a caller that passes include/dmakit picks up headers added later without
knowing their names.

Generation writes into DIR:
  NAME.3       one page per documented function (or macro, or variable)
  NAME.3type   one page per documented struct, union, enum or typedef
               (man-db finds these in man3/ too: "man 3type dmk_seg")
  dmakit.3     an overview listing every page, header by header
Stale *.3 / *.3type files in DIR that this run did not write are removed.
With --depfile FILE it also writes a Makefile-style dependency file naming
every header it read and each directory it listed, so that ninja reruns it
when a header changes or a header is added or removed.

--check prints one line per problem, "FILE:LINE: message", and exits 1 when
there is any:
  - a function (or variable, struct, union, enum, typedef) declared in a
    header without a kernel-doc comment;
  - a parameter of the prototype that is not documented, an unnamed one,
    or a documented @name that is not a parameter;
  - a non-void function whose comment has no "Return:" section;
  - a struct/union member or enum constant that is not documented, or a
    documented one that does not exist;
  - a kernel-doc comment that does not describe the declaration after it.
Lines starting with "warning:" (a function comment with no "Thread safety:"
section) are only fatal with --strict.

Python 3 standard library only.
"""

import argparse
import bisect
import datetime
import os
import re
import sys
import time

PROJECT = 'dmakit'
PROJECT_SUMMARY = 'scatter-gather DMA into application buffers for user-space PCI drivers'

C_TYPE_WORDS = {
    'void', 'char', 'short', 'int', 'long', 'float', 'double', 'signed',
    'unsigned', '_Bool', '_Complex', 'bool',
}
QUALIFIERS = {
    'const', 'volatile', 'restrict', '__restrict', '__restrict__', 'register',
    '_Atomic', '__const',
}
STORAGE = {
    'extern', 'static', 'inline', '__inline', '__inline__', '_Noreturn',
    '__extension__', '_Thread_local', '__thread',
}
NOT_FUNCTIONS = {
    '__attribute__', '__attribute', '__declspec', '__asm__', '__asm', 'asm',
    'sizeof', 'typeof', '__typeof__', '_Alignas', '_Alignof', 'alignas',
    '_Static_assert', 'static_assert', '_Generic', '__has_attribute',
}

# Section titles kernel-doc knows, mapped to their man page heading.
SECTIONS = {
    'return': 'RETURN VALUE',
    'returns': 'RETURN VALUE',
    'thread safety': 'THREAD SAFETY',
    'context': 'CONTEXT',
    'locking': 'LOCKING',
    'note': 'NOTES',
    'notes': 'NOTES',
    'example': 'EXAMPLES',
    'examples': 'EXAMPLES',
    'description': 'DESCRIPTION',
    'see also': 'SEE ALSO',
}
SECTION_RE = re.compile(r'^(%s)\s*:\s*(.*)$' % '|'.join(
    sorted((re.escape(k) for k in SECTIONS), key=len, reverse=True)), re.I)
PARAM_RE = re.compile(r'^@(\.\.\.|[A-Za-z_]\w*(?:\.\w+)*)\s*:\s*(.*)$')
IDENT_RE = re.compile(r'[A-Za-z_]\w*')


# --------------------------------------------------------------------------
# Problems


class Report:
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, path, line, msg):
        self.errors.append((path, line, msg))

    def warn(self, path, line, msg):
        self.warnings.append((path, line, msg))


# --------------------------------------------------------------------------
# Scanning C


def scan(text):
    """Blank out comments and preprocessor directives.

    Returns (code, comments, directives): code has the same length and line
    breaks as text, with every comment and directive replaced by spaces;
    comments and directives are (start, end) offsets into text.
    """
    n = len(text)
    out = list(text)
    comments = []
    directives = []

    def blank(a, b):
        for k in range(a, b):
            if out[k] != '\n':
                out[k] = ' '

    i = 0
    line_start = True
    while i < n:
        c = text[i]
        if c == '\n':
            line_start = True
            i += 1
            continue
        if c in ' \t\r\f\v':
            i += 1
            continue
        if c == '#' and line_start:
            start = i
            while i < n and text[i] != '\n':
                if text.startswith('/*', i):
                    j = text.find('*/', i + 2)
                    j = n if j < 0 else j + 2
                    comments.append((i, j))
                    i = j
                    continue
                if text.startswith('//', i):
                    while i < n and text[i] != '\n':
                        i += 1
                    break
                if text[i] == '\\' and i + 1 < n and text[i + 1] == '\n':
                    i += 2
                    continue
                i += 1
            directives.append((start, i))
            blank(start, i)
            continue
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            comments.append((i, j))
            blank(i, j)
            i = j
            continue
        line_start = False
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
            continue
        if c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            i = j + 1
            continue
        i += 1
    return ''.join(out), comments, directives


def skip_quoted(code, i):
    q = code[i]
    j = i + 1
    while j < len(code) and code[j] != q and code[j] != '\n':
        j += 2 if code[j] == '\\' else 1
    return j + 1


def split_statements(code):
    """Top-level declarations of blanked code, as (start, end, body) tuples.

    end is past the closing ';' (or '}' of a function definition); body is
    the offset of the '{' of a function definition, else None.  The braces of
    extern "C" { ... } are transparent.
    """
    stmts = []
    n = len(code)
    i = 0
    depth = paren = 0
    start = None
    brace_open = None
    while i < n:
        c = code[i]
        if start is None:
            if c.isspace():
                i += 1
                continue
            start = i
        if c in '"\'':
            i = skip_quoted(code, i)
            continue
        if c in '([':
            paren += 1
        elif c in ')]':
            paren -= 1
        elif c == '{':
            if depth == 0 and re.fullmatch(r'\s*extern\s*"C"\s*', code[start:i]):
                start = None
                i += 1
                continue
            if depth == 0:
                brace_open = i
            depth += 1
        elif c == '}':
            if depth == 0:
                # the end of an extern "C" block (or a stray brace)
                start = None
                i += 1
                continue
            depth -= 1
            if depth == 0 and paren == 0:
                head = strip_attributes(code[start:brace_open]).rstrip()
                if head.endswith(')') and '=' not in head:
                    stmts.append((start, i + 1, brace_open))
                    start = None
        elif c == ';' and depth == 0 and paren <= 0:
            stmts.append((start, i + 1, None))
            start = None
            paren = 0
        i += 1
    return stmts


def match_close(s, i):
    """Index of the bracket closing the one at s[i]."""
    pairs = {'(': ')', '[': ']', '{': '}'}
    stack = []
    j = i
    while j < len(s):
        c = s[j]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ')]}':
            if stack and stack[-1] == c:
                stack.pop()
                if not stack:
                    return j
        j += 1
    return len(s) - 1


def strip_attributes(s):
    """Replace GNU/C23 attributes and asm labels by spaces, keeping offsets."""
    out = list(s)
    for m in re.finditer(r'\b(__attribute__|__attribute|__declspec|__asm__|__asm|asm)\s*\(', s):
        end = match_close(s, m.end() - 1)
        for k in range(m.start(), end + 1):
            if out[k] != '\n':
                out[k] = ' '
    for m in re.finditer(r'\[\[', s):
        end = s.find(']]', m.end())
        if end >= 0:
            for k in range(m.start(), end + 2):
                if out[k] != '\n':
                    out[k] = ' '
    return ''.join(out)


def split_top(s, sep, base=0):
    """Split s at sep characters outside brackets; yields (piece, offset)."""
    depth = 0
    last = 0
    for j, c in enumerate(s):
        if c in '([{':
            depth += 1
        elif c in ')]}':
            depth -= 1
        elif c == sep and depth == 0:
            yield s[last:j], base + last
            last = j + 1
    yield s[last:], base + last


def declarator_name(piece):
    """(name, offset within piece) of a declarator, or (None, 0) if unnamed.

    Handles pointers, arrays, bit-fields and function pointers.
    """
    m = re.search(r'\(\s*\*+\s*(?:const\s+)?([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*\)', piece)
    if m:
        return m.group(1), m.start(1)
    p = re.sub(r':\s*[^:]+$', lambda x: ' ' * len(x.group(0)), piece)   # bit-field
    p = re.sub(r'=.*$', lambda x: ' ' * len(x.group(0)), p, flags=re.S)  # initialiser
    while True:
        m = re.search(r'\[[^\[\]]*\]\s*$', p)
        if not m:
            break
        p = p[:m.start()] + ' ' * (len(p) - m.start())
    words = [w for w in IDENT_RE.finditer(p) if w.group(0) not in QUALIFIERS]
    if not words:
        return None, 0
    last = words[-1]
    if len(words) == 1 or last.group(0) in C_TYPE_WORDS:
        return None, 0
    prev = words[-2].group(0)
    if prev in ('struct', 'union', 'enum'):
        return None, 0
    return last.group(0), last.start()


# --------------------------------------------------------------------------
# Declarations


class Entity:
    """One public declaration."""

    def __init__(self, kind, name, header, line, decl, spans):
        self.kind = kind            # function, macro, variable, struct, union, enum, typedef
        self.name = name
        self.header = header
        self.line = line
        self.decl = decl            # declaration text for SYNOPSIS (tabs expanded)
        self.spans = spans          # [(offset, length, 'B'|'I')] into decl
        self.params = []            # [(name or None, line, index)]
        self.members = []           # [(name, line)]; struct members / enum constants
        self.opaque = False
        self.returns_void = False
        self.inline = False
        self.doc = None

    @property
    def is_type(self):
        return self.kind in ('struct', 'union', 'enum', 'typedef')

    @property
    def section(self):
        return '3type' if self.is_type else '3'

    @property
    def page(self):
        return '%s.%s' % (self.name, self.section)

    @property
    def label(self):
        if self.kind in ('function', 'macro') and self.params is not None:
            return self.name + '()'
        if self.kind in ('struct', 'union', 'enum'):
            return '%s %s' % (self.kind, self.name)
        return self.name


class Header:
    def __init__(self, path):
        self.path = path
        with open(path, encoding='utf-8') as f:
            self.text = f.read()
        self.line_starts = [0] + [m.end() for m in re.finditer('\n', self.text)]
        self.entities = []
        self.docs = []              # DOC: blocks
        self.intro = []             # lines of the header's leading comment
        incdir = os.path.basename(os.path.dirname(os.path.abspath(path)))
        self.include = '%s/%s' % (incdir, os.path.basename(path)) if incdir else os.path.basename(path)

    def line_of(self, off):
        return bisect.bisect_right(self.line_starts, off)

    def column_of(self, off):
        return off - self.line_starts[self.line_of(off) - 1]


def expand_decl(header, text, start):
    """text (starting at offset start of the header) with tabs expanded as
    in the file, leading indentation of the first line removed and trailing
    blanks of each line dropped."""
    col_text = header.text[header.line_starts[header.line_of(start) - 1]:start]
    prefix = col_text.expandtabs(8)
    lines = (col_text + text).split('\n')
    out = []
    for k, ln in enumerate(lines):
        ln = ln.expandtabs(8).rstrip()
        if k == 0:
            ln = ln[len(prefix):]
        out.append(ln)
    while out and not out[-1]:
        out.pop()
    return '\n'.join(out)


def parse_function(header, ent_code, start, body):
    """Entity for a function declaration (or definition) or None."""
    code = ent_code
    if body is not None:
        code = code[:body - start].rstrip() + ';'
    decl = expand_decl(header, code, start)
    clean = strip_attributes(decl)
    # candidate "name(" at the lowest bracket depth
    best = None
    depth = 0
    for j, c in enumerate(clean):
        if c == '(':
            m = re.search(r'([A-Za-z_]\w*)\s*$', clean[:j])
            if m and m.group(1) not in NOT_FUNCTIONS and m.group(1) not in C_TYPE_WORDS \
                    and m.group(1) not in QUALIFIERS and m.group(1) not in STORAGE:
                shouty = re.fullmatch(r'[A-Z0-9_]+', m.group(1)) is not None
                key = (depth, shouty)
                if best is None or key < best[0]:
                    best = (key, m.start(1), j, m.group(1))
            depth += 1
        elif c == ')':
            depth -= 1
    if best is None:
        return None
    (fdepth, _), name_off, popen, name = best
    pclose = match_close(clean, popen)
    ent = Entity('function', name, header, header.line_of(start), decl, [(name_off, len(name), 'B')])
    rettype = clean[:name_off]
    words = [w for w in IDENT_RE.findall(rettype) if w not in QUALIFIERS]
    ent.inline = body is not None or 'static' in words or 'inline' in words
    words = [w for w in words if w not in STORAGE]
    ent.returns_void = fdepth == 0 and words == ['void'] and '*' not in rettype
    inner = clean[popen + 1:pclose]
    pieces = list(split_top(inner, ',', popen + 1))
    if len(pieces) == 1 and re.fullmatch(r'\s*(void)?\s*', pieces[0][0]):
        return ent
    for idx, (piece, off) in enumerate(pieces):
        line = header.line_of(start) + decl[:off].count('\n')
        if piece.strip() == '...':
            ent.params.append(('...', line, idx + 1))
            continue
        pname, poff = declarator_name(piece)
        if pname is None:
            ent.params.append((None, line, idx + 1))
            continue
        ent.params.append((pname, header.line_of(start) + decl[:off + poff].count('\n'), idx + 1))
        ent.spans.append((off + poff, len(pname), 'I'))
    return ent


def parse_members(header, decl, base_line, body_start, body_end, prefix=''):
    """Members of the struct/union body decl[body_start:body_end]."""
    members = []
    spans = []
    body = decl[body_start:body_end]
    for piece, off in split_top(body, ';', body_start):
        if not piece.strip():
            continue
        if '{' in piece:
            ob = piece.index('{')
            cb = match_close(piece, ob)
            rest = piece[cb + 1:]
            names = []
            for d, doff in split_top(rest, ',', off + cb + 1):
                n, noff = declarator_name('int ' + d)
                if n:
                    names.append((n, doff + noff - 4))
            if names:
                for n, noff in names:
                    members.append((prefix + n, base_line + decl[:noff].count('\n')))
                    spans.append((noff, len(n), 'I'))
            else:   # anonymous struct/union: its members belong to this level
                m2, s2 = parse_members(header, decl, base_line, off + ob + 1, off + cb, prefix)
                members += m2
                spans += s2
            continue
        first = True
        for d, doff in split_top(piece, ',', off):
            n, noff = declarator_name(d if first else 'int ' + d)
            if not first:
                noff -= 4
            first = False
            if n:
                members.append((prefix + n, base_line + decl[:doff + noff].count('\n')))
                spans.append((doff + noff, len(n), 'I'))
    return members, spans


def parse_statement(header, code, start, end, body):
    text = code[start:end]
    clean = strip_attributes(text)
    words = IDENT_RE.findall(clean)
    if not words:
        return None
    line = header.line_of(start)
    if words[0] == 'typedef':
        decl = expand_decl(header, text, start)
        cdecl = strip_attributes(decl)
        m = re.search(r'\(\s*\*\s*([A-Za-z_]\w*)\s*\)\s*\(', cdecl)
        if m:
            name, noff = m.group(1), m.start(1)
        else:
            tail = cdecl.rstrip().rstrip(';')
            if '{' in tail:
                tail_start = match_close(tail, tail.index('{')) + 1
            else:
                tail_start = 0
            name, noff = declarator_name(tail[tail_start:])
            noff += tail_start
        if not name:
            return None
        ent = Entity('typedef', name, header, line, decl, [(noff, len(name), 'B')])
        return ent
    m = re.match(r'\s*(struct|union|enum)\s+(?:([A-Za-z_]\w*)\s*)?([{;])', clean)
    if m:
        kind, name, what = m.group(1), m.group(2), m.group(3)
        if not name:
            return None     # anonymous type: nothing to document by name
        decl = expand_decl(header, text, start)
        cdecl = strip_attributes(decl)
        ent = Entity(kind, name, header, line, decl, [])
        nm = re.search(r'\b%s\b' % re.escape(name), cdecl)
        ent.spans.append((nm.start(), len(name), 'B'))
        if what == ';':
            ent.opaque = True
            return ent
        ob = cdecl.index('{')
        cb = match_close(cdecl, ob)
        if kind == 'enum':
            for piece, off in split_top(cdecl[ob + 1:cb], ',', ob + 1):
                em = IDENT_RE.search(piece)
                if em:
                    ent.members.append((em.group(0), line + cdecl[:off + em.start()].count('\n')))
                    ent.spans.append((off + em.start(), len(em.group(0)), 'I'))
        else:
            ent.members, spans = parse_members(header, cdecl, line, ob + 1, cb)
            ent.spans += spans
        return ent
    ent = parse_function(header, text, start, body)
    if ent:
        return ent
    # a variable
    if words[0] not in ('extern',) and 'extern' not in words:
        return None
    decl = expand_decl(header, text, start)
    name, noff = declarator_name(strip_attributes(decl).rstrip().rstrip(';'))
    if not name:
        return None
    ent = Entity('variable', name, header, line, decl, [(noff, len(name), 'B')])
    ent.params = None
    return ent


def parse_define(header, start, end):
    text = header.text[start:end]
    text = re.sub(r'/\*.*?\*/|//[^\n]*', lambda m: re.sub(r'[^\n]', ' ', m.group(0)), text, flags=re.S)
    decl = '\n'.join(ln.expandtabs(8).rstrip() for ln in text.split('\n')).rstrip()
    m = re.match(r'#\s*define\s+([A-Za-z_]\w*)(\(([^)]*)\))?', decl)
    if not m:
        return None
    ent = Entity('macro', m.group(1), header, header.line_of(start), decl, [(m.start(1), len(m.group(1)), 'B')])
    if m.group(2) is None:
        ent.params = None
        return ent
    for piece, off in split_top(m.group(3), ',', m.start(3)):
        pm = re.search(r'[A-Za-z_]\w*|\.\.\.', piece)
        if pm:
            pname = pm.group(0)
            if pname == '__VA_ARGS__':
                pname = '...'
            ent.params.append((pname, ent.line, len(ent.params) + 1))
            ent.spans.append((off + pm.start(), len(pm.group(0)), 'I'))
    return ent


# --------------------------------------------------------------------------
# Kernel-doc comments


class Doc:
    def __init__(self, line):
        self.line = line
        self.kind = None            # function, struct, union, enum, typedef, doc
        self.name = None
        self.summary = ''
        self.params = []            # [(name, [lines], line)]
        self.description = []       # lines
        self.sections = []          # [(key, [lines], line)]

    def section(self, key):
        for k, lines, _ in self.sections:
            if SECTIONS[k] == SECTIONS[key]:
                return lines
        return None


def comment_lines(header, start, end):
    raw = header.text[start:end]
    first = header.line_of(start)
    lines = raw.split('\n')
    out = []
    for idx, ln in enumerate(lines):
        if idx == 0:
            ln = ln[3:] if ln.startswith('/**') else ln[2:]
        if idx == len(lines) - 1 and ln.rstrip().endswith('*/'):
            ln = ln.rstrip()[:-2]
        m = re.match(r'^\s*\*(?!/)', ln)
        if m:
            ln = ln[m.end():]
            if ln.startswith(' '):
                ln = ln[1:]
        elif idx > 0:
            ln = ln.lstrip(' ')
        out.append((first + idx, ln.rstrip()))
    while out and not out[0][1].strip():
        out.pop(0)
    while out and not out[-1][1].strip():
        out.pop()
    return out


def parse_doc(header, start, end, report):
    lines = comment_lines(header, start, end)
    doc = Doc(header.line_of(start))
    if not lines:
        report.error(header.path, doc.line, 'empty kernel-doc comment')
        return None
    lineno, first = lines[0]
    doc.line = lineno
    first = first.strip()
    m = re.match(r'^DOC:\s*(.*)$', first)
    if m:
        doc.kind, doc.name = 'doc', m.group(1).strip()
        doc.description = [ln for _, ln in lines[1:]]
        return doc
    m = (re.match(r'^(struct|union|enum|typedef)\s+([A-Za-z_]\w*)\s*(?:-+\s*(.*))?$', first)
         or re.match(r'^()([A-Za-z_]\w*)\s*(?:\(\s*\))?\s*(?:-+\s*(.*))?$', first))
    if not m:
        report.error(header.path, lineno,
                     'kernel-doc comment does not start with "name() - summary": %r' % first)
        return None
    doc.kind = m.group(1) or 'function'
    doc.name = m.group(2)
    summary = [m.group(3) or '']
    rest = lines[1:]
    while rest and rest[0][1].strip() and not PARAM_RE.match(rest[0][1]) \
            and not SECTION_RE.match(rest[0][1]):
        summary.append(rest[0][1].strip())
        rest = rest[1:]
    doc.summary = ' '.join(s for s in summary if s).strip()
    if not doc.summary:
        report.error(header.path, lineno, '%s: kernel-doc comment has no summary after " - "' % doc.name)
    state = 'desc'
    cur = None
    for lineno, ln in rest:
        pm = PARAM_RE.match(ln)
        sm = SECTION_RE.match(ln)
        if pm:
            cur = [pm.group(2)] if pm.group(2) else []
            doc.params.append((pm.group(1), cur, lineno))
            state = 'param'
        elif sm:
            key = sm.group(1).lower()
            if SECTIONS[key] == 'DESCRIPTION':
                cur = doc.description
                if sm.group(2):
                    cur.append(sm.group(2))
                state = 'desc'
            else:
                cur = [sm.group(2)] if sm.group(2) else []
                doc.sections.append((key, cur, lineno))
                state = 'section'
        elif not ln.strip():
            if state == 'param':
                state = 'desc'
                cur = doc.description
            elif cur is not None:
                cur.append('')
            else:
                doc.description.append('')
        else:
            if state == 'param':
                cur.append(ln.strip())
            elif state == 'section':
                cur.append(ln)
            else:
                doc.description.append(ln)
    for _, lines_, _ in doc.sections:
        while lines_ and not lines_[-1].strip():
            lines_.pop()
    while doc.description and not doc.description[0].strip():
        doc.description.pop(0)
    while doc.description and not doc.description[-1].strip():
        doc.description.pop()
    return doc


def header_intro(header, comments, first_code):
    """Lines of the first plain comment (not SPDX, not kernel-doc) of the
    file, if it comes before any declaration."""
    for start, end in comments:
        if start > first_code:
            break
        raw = header.text[start:end]
        if raw.startswith('/**') or 'SPDX-License-Identifier' in raw or not raw.startswith('/*'):
            continue
        lines = [ln for _, ln in comment_lines(header, start, end)]
        if lines:
            lines[0] = re.sub(r'^%s:\s*' % re.escape(PROJECT), '', lines[0])
            lines[0] = lines[0][:1].upper() + lines[0][1:]
        return lines
    return []


DOC_KIND_MATCH = {
    'function': ('function', 'macro', 'variable'),
    'struct': ('struct',), 'union': ('union',), 'enum': ('enum',), 'typedef': ('typedef',),
}


def parse_header(path, report):
    h = Header(path)
    code, comments, directives = scan(h.text)
    items = []
    for s, e, body in split_statements(code):
        items.append((s, 'stmt', (s, e, body)))
    for s, e in comments:
        if h.text.startswith('/**', s) and not h.text.startswith('/**/', s) \
                and not h.text.startswith('/***', s):
            items.append((s, 'kdoc', (s, e)))
    for s, e in directives:
        if re.match(r'#\s*define\b', h.text[s:e]):
            items.append((s, 'define', (s, e)))
    items.sort(key=lambda x: x[0])
    first_code = min([s for s, kind, _ in items if kind == 'stmt'] + [len(h.text)])
    h.intro = header_intro(h, comments, first_code)

    pending = None      # (Doc, line) waiting for its declaration
    for off, kind, data in items:
        if kind == 'kdoc':
            doc = parse_doc(h, data[0], data[1], report)
            if pending is not None:
                report.error(h.path, pending.line,
                             'kernel-doc comment for %s is not followed by its declaration' % pending.name)
            pending = None
            if doc is None:
                continue
            if doc.kind == 'doc':
                h.docs.append(doc)
            else:
                pending = doc
            continue
        if kind == 'define':
            if pending is None:
                continue
            ent = parse_define(h, *data)
        else:
            ent = parse_statement(h, code, *data)
        if ent is None:
            if pending is not None:
                report.error(h.path, pending.line,
                             'kernel-doc comment for %s is followed by a declaration it cannot describe'
                             % pending.name)
                pending = None
            continue
        if pending is not None:
            if ent.kind not in DOC_KIND_MATCH[pending.kind] or ent.name != pending.name:
                report.error(h.path, pending.line,
                             'kernel-doc comment names %s but the declaration after it is %s'
                             % (pending.name + '()' if pending.kind == 'function'
                                else '%s %s' % (pending.kind, pending.name), ent.label))
            ent.doc = pending
            pending = None
        if ent.kind in ('struct', 'union', 'enum') and ent.opaque and ent.doc is None:
            continue    # a forward declaration
        h.entities.append(ent)
    if pending is not None:
        report.error(h.path, pending.line,
                     'kernel-doc comment for %s is not followed by any declaration' % pending.name)
    return h


def expand_args(args):
    paths = []
    dirs = []
    for a in args:
        if os.path.isdir(a):
            dirs.append(a)
            paths += sorted(os.path.join(a, f) for f in os.listdir(a)
                            if f.endswith('.h') and os.path.isfile(os.path.join(a, f)))
        else:
            paths.append(a)
    return paths, dirs


# --------------------------------------------------------------------------
# Checks


def check(headers, report):
    pages = {}
    for h in headers:
        for ent in h.entities:
            doc = ent.doc
            if ent.kind == 'macro' and doc is None:
                continue
            if doc is None:
                report.error(h.path, ent.line, '%s %s has no kernel-doc comment' % (
                    'function' if ent.kind == 'function' else ent.kind if ent.kind in ('variable', 'typedef')
                    else 'type', ent.label))
                continue
            if ent.page in pages:
                other = pages[ent.page]
                report.error(h.path, ent.line, '%s is documented again (first at %s:%d); one man page %s'
                             % (ent.label, other.header.path, other.line, ent.page))
            else:
                pages[ent.page] = ent
            seen = {}
            for name, lines, line in doc.params:
                if name in seen:
                    report.error(h.path, line, '%s: @%s is documented twice' % (ent.label, name))
                seen[name] = line
                if not ' '.join(lines).strip():
                    report.error(h.path, line, '%s: @%s has an empty description' % (ent.label, name))
            if ent.kind in ('function', 'macro') and ent.params is not None:
                proto = set()
                for pname, pline, idx in ent.params:
                    if pname is None:
                        report.error(h.path, pline, '%s: parameter %d has no name, so it cannot be documented'
                                     % (ent.label, idx))
                        continue
                    proto.add(pname)
                    if pname not in seen:
                        report.error(h.path, pline, '%s: parameter @%s is not documented' % (ent.label, pname))
                for name, _, line in doc.params:
                    if name not in proto:
                        report.error(h.path, line, '%s: @%s is documented but is not a parameter'
                                     % (ent.label, name))
                if ent.kind == 'function' and not ent.returns_void and doc.section('return') is None:
                    report.error(h.path, doc.line, '%s: returns a value but its comment has no "Return:" section'
                                 % ent.label)
                if ent.kind == 'function' and doc.section('thread safety') is None:
                    report.warn(h.path, doc.line, '%s: comment has no "Thread safety:" section' % ent.label)
            elif ent.kind in ('struct', 'union', 'enum'):
                what = 'constant' if ent.kind == 'enum' else 'member'
                names = {n for n, _ in ent.members}
                for mname, mline in ent.members:
                    if mname not in seen:
                        report.error(h.path, mline, '%s: %s @%s is not documented' % (ent.label, what, mname))
                for name, _, line in doc.params:
                    if name not in names and name.split('.')[0] not in names:
                        report.error(h.path, line, '%s: @%s is documented but is not a %s'
                                     % (ent.label, name, what))
            elif doc.params and ent.kind in ('variable', 'typedef') and '(' not in ent.decl:
                for name, _, line in doc.params:
                    report.error(h.path, line, '%s: @%s is documented but %s has no parameters'
                                 % (ent.label, name, ent.name))


# --------------------------------------------------------------------------
# groff output


def esc(s):
    s = s.replace('\\', '\\e')
    # a minus sign or option dash, not a hyphen inside a word
    s = re.sub(r'(?<![\w\\])-(?=[\w.])', r'\\-', s)
    return s


INLINE_RE = re.compile(r'''
    (?P<func>(?<![\w\\])[A-Za-z_]\w*)\(\)
  | &(?P<type>(?:struct|union|enum|typedef)\s+[A-Za-z_]\w*(?:(?:->|\.)\w+)*)
  | &(?P<ref>[A-Za-z_]\w*(?:(?:->|\.)\w+)*)
  | (?<![\w%])%(?P<const>[A-Za-z_]\w*)
  | (?<![\w@])@(?P<param>[A-Za-z_]\w*(?:\.\w+)*|\.\.\.)
''', re.X)


def inline(s):
    def repl(m):
        if m.group('func'):
            return '\\fB%s\\fR()' % m.group('func')
        if m.group('type'):
            return '\\fI%s\\fR' % re.sub(r'\s+', ' ', m.group('type'))
        if m.group('ref'):
            return '\\fI%s\\fR' % m.group('ref')
        if m.group('const'):
            return '\\fB%s\\fR' % m.group('const')
        return '\\fI%s\\fR' % (m.group('param') if m.group('param') != '...' else '\\&...')
    return INLINE_RE.sub(repl, esc(s))


def protect(line):
    if line.startswith(('.', "'")):
        return '\\&' + line
    if not line:
        return '\\&'
    return line


def paragraphs(lines):
    """Split lines into paragraphs at blank lines."""
    paras = []
    cur = []
    for ln in lines:
        if ln.strip():
            cur.append(ln)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    return paras


def render_text(lines, first_macro='.PP'):
    """groff for free text: paragraphs, and indented paragraphs as literal
    examples."""
    out = []
    for k, para in enumerate(paragraphs(lines)):
        if k or first_macro:
            out.append(first_macro if k == 0 else '.PP')
        if all(ln.startswith(('\t', '    ')) for ln in para):
            exp = [ln.expandtabs(8) for ln in para]
            indent = min(len(ln) - len(ln.lstrip()) for ln in exp)
            out.append('.in +4n')
            out.append('.EX')
            out += [protect(esc(ln[indent:])) for ln in exp]
            out.append('.EE')
            out.append('.in')
        else:
            out += [protect(inline(ln.strip())) for ln in para]
    return [ln for ln in out if ln is not None]


def render_decl(ent, default_font):
    """The declaration, with names in bold or italic, for a .nf block."""
    decl = ent.decl
    spans = sorted(set(ent.spans))
    pieces = []
    pos = 0
    for off, length, font in spans:
        if off < pos:
            continue
        pieces.append(('', decl[pos:off]))
        pieces.append((font, decl[off:off + length]))
        pos = off + length
    pieces.append(('', decl[pos:]))
    text = ''
    for font, s in pieces:
        s = esc(s)
        if font:
            back = default_font or 'R'
            s = s.replace('\n', '\\f%s\n\\f%s' % (back, font))
            text += '\\f%s%s\\f%s' % (font, s, back)
        else:
            text += s
    out = []
    for ln in text.split('\n'):
        if default_font and ln:
            ln = '\\f%s%s\\fR' % (default_font, ln)
        out.append(protect(ln))
    return out


def th(name, section, date, version):
    return '.TH %s %s %s "%s" "%s Library Functions Manual"' % (
        name, section, date, ('%s %s' % (PROJECT, version)).strip(), PROJECT)


def capitalize(lines):
    """Start a section's text with a capital when it starts with a plain
    lowercase word ("safe." -> "Safe."), never touching an identifier."""
    lines = list(lines)
    if lines and re.match(r'[a-z]+(?![\w(\'])', lines[0]):
        lines[0] = lines[0][0].upper() + lines[0][1:]
    return lines


def sentence(summary):
    """A summary as a sentence of its own."""
    s = capitalize([summary])[0]
    return s if s.endswith(('.', '!', '?')) else s + '.'


def see_also_lines(refs, extra=None):
    out = ['.SH SEE ALSO', '.ad l', '.nh']
    uniq = []
    for r in refs:
        if r not in uniq:
            uniq.append(r)
    for k, (name, section) in enumerate(uniq):
        out.append('.BR %s (%s)%s' % (name, section, ',' if k < len(uniq) - 1 else ''))
    if extra:
        out += render_text(extra)
    return out


def page_for(ent, headers_by_path, by_name, date, version):
    h = ent.header
    doc = ent.doc
    out = ['.\\" Generated by kdoc2man.py from %s; edit the header, not this file.' % h.include,
           th(ent.name, ent.section, date, version),
           '.SH NAME',
           '%s \\- %s' % (ent.name, inline(doc.summary) if doc.summary else ent.label),
           '.SH LIBRARY',
           '%s library' % PROJECT,
           '.RI ( lib%s ", " \\-l%s )' % (PROJECT, PROJECT),
           '.SH SYNOPSIS',
           '.nf',
           '.B #include <%s>' % h.include,
           '.PP']
    out += render_decl(ent, 'B' if not ent.is_type else '')
    out.append('.fi')
    out.append('.SH DESCRIPTION')
    if doc.description:
        out += render_text(doc.description, '')
    else:
        out.append(protect(inline(sentence(doc.summary))))
    if doc.params:
        if ent.kind in ('struct', 'union'):
            out.append('.SH MEMBERS')
        elif ent.kind == 'enum':
            out.append('.SH CONSTANTS')
        else:
            out.append('.SH ARGUMENTS')
        for name, lines, _ in doc.params:
            out.append('.TP')
            out.append('.B %s' % name if ent.kind == 'enum' else '.I %s' % (name if name != '...' else '\\&...'))
            out += [protect(inline(ln.strip())) for ln in lines if ln.strip()]
    order = ['RETURN VALUE', 'THREAD SAFETY', 'CONTEXT', 'LOCKING', 'NOTES', 'EXAMPLES']
    for title in order:
        for key, lines, _ in doc.sections:
            if SECTIONS[key] == title:
                out.append('.SH %s' % title)
                out += render_text(capitalize(lines), '')
    # SEE ALSO: the header's other functions, the types in the declaration,
    # the overview.
    refs = []
    if ent.is_type:
        users = [e for hh in headers_by_path.values() for e in hh.entities
                 if e.doc and not e.is_type and e is not ent
                 and re.search(r'\b%s\b' % re.escape(ent.name), e.decl)]
        if not users:
            users = [e for e in h.entities if e.doc and not e.is_type]
        refs += [(e.name, e.section) for e in users]
        refs += [(e.name, e.section) for e in h.entities if e.doc and e.is_type and e is not ent]
    else:
        refs += [(e.name, e.section) for e in h.entities
                 if e.doc and e is not ent and e.kind == 'function']
        for word in IDENT_RE.findall(ent.decl):
            t = by_name.get(('type', word))
            if t is not None:
                refs.append((t.name, t.section))
    refs.append((PROJECT, '3'))
    extra = None
    for key, lines, _ in doc.sections:
        if SECTIONS[key] == 'SEE ALSO':
            extra = lines
    out += see_also_lines(refs, extra)
    return '\n'.join(out) + '\n'


def overview_page(headers, date, version):
    out = ['.\\" Generated by kdoc2man.py; edit the headers, not this file.',
           th(PROJECT, '3', date, version),
           '.SH NAME',
           '%s \\- %s' % (PROJECT, esc(PROJECT_SUMMARY)),
           '.SH LIBRARY',
           '%s library' % PROJECT,
           '.RI ( lib%s ", " \\-l%s )' % (PROJECT, PROJECT),
           '.SH SYNOPSIS',
           '.nf']
    out += ['.B #include <%s>' % h.include for h in headers]
    out.append('.fi')
    out.append('.SH DESCRIPTION')
    out.append('Each public header of %s, and the manual pages of what it declares.' % PROJECT)
    for h in headers:
        out.append('.SS <%s>' % h.include)
        if h.intro:
            out += render_text(h.intro, '')
        for d in h.docs:
            if d.name:
                out.append('.PP')
                out.append('.I %s' % esc(d.name))
            out += render_text(d.description)
        documented = [e for e in h.entities if e.doc]
        if documented:
            out.append('.PP')
            out.append('.PD 0')
        for e in documented:
            out.append('.TP')
            out.append('.BR %s (%s)' % (e.name, e.section))
            out.append(protect(inline(e.doc.summary)))
        if documented:
            out.append('.PD')
    return '\n'.join(out) + '\n'


def default_date(paths):
    sde = os.environ.get('SOURCE_DATE_EPOCH')
    if sde and sde.isdigit():
        t = int(sde)
    else:
        t = max([os.stat(p).st_mtime for p in paths] + [0]) or time.time()
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime('%Y-%m-%d')


def write_if_changed(path, content):
    try:
        with open(path, encoding='utf-8') as f:
            if f.read() == content:
                return
    except OSError:
        pass
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(content)
    os.replace(tmp, path)


def generate(headers, outdir, date, version):
    os.makedirs(outdir, exist_ok=True)
    by_name = {}
    for h in headers:
        for e in h.entities:
            if e.doc is None:
                continue
            key = ('type' if e.is_type else 'sym', e.name)
            by_name.setdefault(key, e)
    headers_by_path = {h.path: h for h in headers}
    written = set()
    for h in headers:
        for e in h.entities:
            if e.doc is None or e.page in written or by_name.get(
                    ('type' if e.is_type else 'sym', e.name)) is not e:
                continue
            write_if_changed(os.path.join(outdir, e.page), page_for(e, headers_by_path, by_name, date, version))
            written.add(e.page)
    write_if_changed(os.path.join(outdir, PROJECT + '.3'), overview_page(headers, date, version))
    written.add(PROJECT + '.3')
    for f in os.listdir(outdir):
        if re.search(r'\.3(type)?$', f) and f not in written:
            os.remove(os.path.join(outdir, f))
    # ninja compares the directory's time with its inputs'
    os.utime(outdir, None)
    return sorted(written)


def depfile_escape(p):
    return p.replace('\\', '\\\\').replace(' ', '\\ ').replace('#', '\\#').replace('$', '$$')


def main(argv=None):
    ap = argparse.ArgumentParser(description='man pages from kernel-doc comments, and a checker for them')
    ap.add_argument('inputs', nargs='+', metavar='HEADER_OR_DIR')
    ap.add_argument('--outdir', help='write the man pages here')
    ap.add_argument('--check', action='store_true', help='report missing or wrong documentation; exit 1 on any')
    ap.add_argument('--strict', action='store_true', help='with --check, warnings are problems too')
    ap.add_argument('--list', action='store_true', help='print the names of the pages that would be written')
    ap.add_argument('--depfile', help='write a Makefile dependency file (target: --outdir)')
    ap.add_argument('--date', help='date in .TH (default: SOURCE_DATE_EPOCH, else the newest header\'s time)')
    ap.add_argument('--version-string', default='', help='version shown in the page footer')
    args = ap.parse_args(argv)
    if not (args.outdir or args.check or args.list):
        ap.error('give --outdir, --check or --list')

    paths, dirs = expand_args(args.inputs)
    if not paths:
        print('kdoc2man: no headers in %s' % ' '.join(args.inputs), file=sys.stderr)
        return 2
    report = Report()
    headers = []
    for p in paths:
        try:
            headers.append(parse_header(p, report))
        except (OSError, UnicodeDecodeError) as e:
            report.error(p, 0, 'cannot read: %s' % e)
    if args.list:
        for h in headers:
            for e in h.entities:
                if e.doc is not None:
                    print(e.page)
        print(PROJECT + '.3')
    if args.outdir:
        date = args.date or default_date(paths)
        generate(headers, args.outdir, date, args.version_string)
        if args.depfile:
            deps = dirs + paths + [os.path.abspath(__file__)]
            with open(args.depfile, 'w', encoding='utf-8') as f:
                f.write('%s: %s\n' % (depfile_escape(args.outdir), ' '.join(depfile_escape(d) for d in deps)))
    if args.check:
        check(headers, report)
        problems = sorted(set(report.errors), key=lambda x: (x[0], x[1], x[2]))
        warnings = sorted(set(report.warnings), key=lambda x: (x[0], x[1], x[2]))
        for path, line, msg in problems:
            print('%s:%d: %s' % (path, line, msg))
        for path, line, msg in warnings:
            print('%s:%d: warning: %s' % (path, line, msg))
        n = len(problems) + (len(warnings) if args.strict else 0)
        sys.stdout.flush()
        if n:
            print('kernel-doc: %d problem%s in %d header%s' % (n, '' if n == 1 else 's', len(paths),
                                                            '' if len(paths) == 1 else 's'), file=sys.stderr)
            return 1
        return 0
    if report.errors and not args.check:
        # generation goes on with what it could read; --check is the gate
        for path, line, msg in report.errors:
            if line == 0:
                print('%s: %s' % (path, msg), file=sys.stderr)
                return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
