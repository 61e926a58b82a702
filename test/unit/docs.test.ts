// The project's documentation stands on its own and stays in step with the code: nothing a user reads points
// outside the repository, every docs/ reference in the code names an existing file and section, every local
// link resolves, and the tables written by hand list exactly the config keys and error codes the code has.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CONFIG_KEYS } from '../../src/cli/config.js';
import { MetricName } from '../../src/cli/metrics.js';
import { ERROR_CODES } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC_FILES = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** What a user gets: the README, the docs, the source (its comments and messages) and the examples. */
const USER_FACING = ['README.md', ...filesUnder('docs'), ...filesUnder('src'), ...filesUnder('examples')];
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** A doc's headings: `## 5. The handoff…` gives number `5`, `### 5.1 Supervisor` gives `5.1`. */
function headings(doc: string): Array<{ text: string; number: string | undefined }> {
  return [...read(join('docs', doc)).matchAll(/^#{1,4} (.+)$/gm)].map((m) => ({
    text: m[1]!.trim(),
    number: /^(\d+(?:\.\d+)*)\.?\s/.exec(m[1]!)?.[1],
  }));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

test('nothing a user reads points at the developers-only folder or its files', () => {
  assert.ok(DOC_FILES.includes('protocol.md') && USER_FACING.length > 50, 'the scan found the tree');
  for (const file of USER_FACING) {
    const text = read(file);
    for (const forbidden of ['../shared', 'SPEC.md', 'DESIGN.md', 'SPEC §']) {
      assert.ok(!text.includes(forbidden), `${file} mentions ${forbidden}`);
    }
  }
});

test('every docs/… file the code, README and docs cite exists', () => {
  let cited = 0;
  for (const file of USER_FACING) {
    for (const match of read(file).matchAll(/\bdocs\/([\w-]+\.md)/g)) {
      cited++;
      assert.ok(DOC_FILES.includes(match[1]!), `${file} cites docs/${match[1]}, which does not exist`);
    }
  }
  assert.ok(cited > 20, `only ${cited} citations found`);
});

test('every § number in the code and docs is a numbered section of docs/protocol.md', () => {
  const numbers = new Set(headings('protocol.md').flatMap((h) => (h.number ? [h.number] : [])));
  assert.ok(numbers.has('5.4') && numbers.has('11'), 'protocol.md keeps its numbered sections');
  let cited = 0;
  for (const file of USER_FACING) {
    // A section sign after an RFC number is that RFC's section (README: "RFC 9113 §6.8"), not ours.
    for (const match of read(file).matchAll(/(?<!RFC \d+ )§(\d+(?:\.\d+)*)/g)) {
      cited++;
      assert.ok(
        numbers.has(match[1]!),
        `${file} cites §${match[1]}, which docs/protocol.md has no heading for`,
      );
    }
  }
  assert.ok(cited > 20, `only ${cited} § citations found`);
});

test('every section cited by name (docs/x.md, "Title") is a heading of that doc', () => {
  let cited = 0;
  for (const file of USER_FACING) {
    for (const match of read(file).matchAll(/docs\/([\w-]+\.md),\s+(?:\/\/\s*)?"([^"]+)"/g)) {
      cited++;
      const titles = headings(match[1]!).map((h) => h.text);
      assert.ok(titles.includes(match[2]!), `${file} cites docs/${match[1]}, "${match[2]}": no such heading`);
    }
  }
  assert.ok(cited >= 3, `only ${cited} named-section citations found`);
});

test('every local link in README.md and docs/ points at an existing file and heading', () => {
  for (const file of ['README.md', ...filesUnder('docs')]) {
    for (const match of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const resolved = path === '' ? file : relative(ROOT, join(ROOT, file, '..', path));
      assert.ok(existsSync(join(ROOT, resolved)), `${file} links to ${target}: ${resolved} does not exist`);
      if (anchor !== undefined && resolved.endsWith('.md')) {
        const anchors = [...read(resolved).matchAll(/^#{1,4} (.+)$/gm)].map((m) => slug(m[1]!.trim()));
        assert.ok(
          anchors.includes(anchor),
          `${file} links to ${target}: no heading #${anchor} in ${resolved}`,
        );
      }
    }
  }
});

test('the operations guide documents exactly the config keys the loader accepts', () => {
  const text = read('docs/operations.md');
  const section = text.slice(
    text.indexOf('## Configuration reference'),
    text.indexOf('\n## ', text.indexOf('## Configuration reference') + 1),
  );
  const documented = [...section.matchAll(/^\| `([a-z_]+)`\s*\| ([^|]+?)\s*\|/gm)].map((m) => [
    m[1]!,
    m[2]!.trim(),
  ]);
  assert.deepEqual(documented.map(([key]) => key).sort(), Object.keys(CONFIG_KEYS).sort());
  for (const [key, docDefault] of documented) {
    const loaderText = CONFIG_KEYS[key as keyof typeof CONFIG_KEYS];
    const loaderDefault = loaderText.startsWith('required')
      ? 'required'
      : /^default ([^.]+)\./.exec(loaderText)?.[1];
    assert.equal(docDefault!.replaceAll('`', ''), loaderDefault, key);
  }
});

test('the protocol reference lists exactly the error codes HandoffError has', () => {
  const text = read('docs/protocol.md');
  const start = text.indexOf('## 10. Errors');
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  const documented = [...section.matchAll(/^\| `(\w+)`/gm)].map((m) => m[1]!);
  assert.deepEqual(documented, [...ERROR_CODES]);
});

test("the README's failure table and the operations guide's are the same table", () => {
  const table = (text: string, heading: string) => {
    const start = text.indexOf(heading);
    assert.ok(start >= 0, `no ${heading}`);
    const first = text.indexOf('\n|', start);
    return text.slice(first, text.indexOf('\n\n', first));
  };
  assert.equal(
    table(read('README.md'), '## Operating it'),
    table(read(join('docs', 'operations.md')), '## Failures and what the system does'),
  );
});

test('the operations guide and the protocol reference name every metric the supervisor exports', () => {
  for (const doc of ['operations.md', 'protocol.md']) {
    const text = read(join('docs', doc));
    const missing = Object.values(MetricName).filter((name) => !text.includes(`\`${name}`));
    assert.deepEqual(missing, [], `${doc} does not name these metrics`);
  }
});

test('every repository path docs/ and the README name exists (a glob matches at least one file)', () => {
  const tree = ['src', 'test', 'native', 'examples', 'bench', 'scripts', 'bin'].flatMap(filesUnder);
  const exists = (path: string) => {
    const trimmed = path.replace(/[.,:;)]+$/, '');
    if (!trimmed.includes('*')) return existsSync(join(ROOT, trimmed));
    const pattern = new RegExp(`^${trimmed.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
    return tree.some((file) => pattern.test(file));
  };
  let named = 0;
  for (const file of ['README.md', ...filesUnder('docs')]) {
    for (const match of read(file).matchAll(
      /(?<![\w/.-])(?:src|test|native|examples|bench|scripts|bin)\/[\w./*-]*/g,
    )) {
      named++;
      assert.ok(exists(match[0]), `${file} names ${match[0]}, which does not exist`);
    }
  }
  assert.ok(named > 30, `only ${named} paths found`);
});
