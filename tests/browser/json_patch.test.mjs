// The RFC 6902 applier of hooks/json_patch.js (the one hooks/client.js
// uses), case by case: what it must apply, and each class of failure it
// must refuse with a `PatchError` and nothing applied. Needs Node only (no npm package, no browser).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { applyJsonPatch, PatchError } from '../../hooks/json_patch.js';

// [name, document, ops, the result]
const APPLIES = [
  ['test: members in another order are equal', { a: { x: 1, y: [1, { p: 1, q: 2 }] } },
    [{ op: 'test', path: '/a', value: { y: [1, { q: 2, p: 1 }], x: 1 } }], { a: { x: 1, y: [1, { p: 1, q: 2 }] } }],
  ['test: the whole document', { b: 2, a: 1 }, [{ op: 'test', path: '', value: { a: 1, b: 2 } }], { b: 2, a: 1 }],
  ['test: 1 and 1.0 are one number', { n: 1 }, [{ op: 'test', path: '/n', value: 1.0 }], { n: 1 }],
  ['test: null is a value', { n: null }, [{ op: 'test', path: '/n', value: null }], { n: null }],
  ['add: a member', { a: 1 }, [{ op: 'add', path: '/b', value: 2 }], { a: 1, b: 2 }],
  ['add: null as the value', {}, [{ op: 'add', path: '/a', value: null }], { a: null }],
  ['add: a member named __proto__ is kept', {}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }],
    JSON.parse('{"__proto__": {"polluted": true}}')],
  ['add: under an existing __proto__ member', JSON.parse('{"__proto__": {"a": 1}}'),
    [{ op: 'add', path: '/__proto__/b', value: 2 }], JSON.parse('{"__proto__": {"a": 1, "b": 2}}')],
  ['add: the end of a list', { l: [1] }, [{ op: 'add', path: '/l/-', value: 2 }], { l: [1, 2] }],
  ['add: the root replaces it', 1, [{ op: 'add', path: '', value: { a: 1 } }], { a: 1 }],
  ['replace: a member', { a: 1 }, [{ op: 'replace', path: '/a', value: [1] }], { a: [1] }],
  ['remove: a list item', { l: [1, 2, 3] }, [{ op: 'remove', path: '/l/1' }], { l: [1, 3] }],
  ['move: a member', { a: { x: 1 }, b: {} }, [{ op: 'move', from: '/a/x', path: '/b/x' }], { a: {}, b: { x: 1 } }],
  ['copy: a member', { a: [1] }, [{ op: 'copy', from: '/a', path: '/b' }], { a: [1], b: [1] }],
  ['escaped pointer tokens', { 'a/b': { '~': 1 } }, [{ op: 'replace', path: '/a~1b/~0', value: 2 }], { 'a/b': { '~': 2 } }],
];

// [name, document, ops]: each must throw a PatchError.
const REFUSES = [
  // test compares values, not spellings
  ['test: a different value', { a: { x: 1 } }, [{ op: 'test', path: '/a', value: { x: 2 } }]],
  ['test: a member more', { a: { x: 1 } }, [{ op: 'test', path: '/a', value: { x: 1, y: 1 } }]],
  ['test: a list in another order', { a: [1, 2] }, [{ op: 'test', path: '/a', value: [2, 1] }]],
  ['test: a list is not an object', { a: [] }, [{ op: 'test', path: '/a', value: {} }]],
  ['test: "1" is not 1', { a: 1 }, [{ op: 'test', path: '/a', value: '1' }]],
  // value is required
  ['add without value', { a: 1 }, [{ op: 'add', path: '/b' }]],
  ['replace without value', { a: 1 }, [{ op: 'replace', path: '/a' }]],
  ['test without value', { a: 1 }, [{ op: 'test', path: '/a' }]],
  ['add with value undefined', { a: 1 }, [{ op: 'add', path: '/b', value: undefined }]],
  // path and from are required strings
  ['add without path', {}, [{ op: 'add', value: 1 }]],
  ['add with path null', {}, [{ op: 'add', path: null, value: 1 }]],
  ['remove with a numeric path', { 1: 1 }, [{ op: 'remove', path: 1 }]],
  ['move without from', { a: 1 }, [{ op: 'move', path: '/b' }]],
  ['move with from null', { a: 1 }, [{ op: 'move', from: null, path: '/b' }]],
  ['copy without from', { a: 1 }, [{ op: 'copy', path: '/b' }]],
  ['a pointer without a leading slash', { a: 1 }, [{ op: 'remove', path: 'a' }]],
  // ops and patches that are not ones
  ['an unknown op', {}, [{ op: 'merge', path: '/a', value: 1 }]],
  ['an op that is not an object', {}, [null]],
  ['a patch that is not a list', {}, { op: 'add', path: '/a', value: 1 }],
  // scalars hold no members
  ['add under a scalar root', 1, [{ op: 'add', path: '/a', value: 1 }]],
  ['add under a null root', null, [{ op: 'add', path: '/a', value: 1 }]],
  ['add under a string member', { s: 'x' }, [{ op: 'add', path: '/s/a', value: 1 }]],
  ['remove from a scalar root', 'x', [{ op: 'remove', path: '/0' }]],
  // paths that name nothing
  ['remove a missing member', { a: 1 }, [{ op: 'remove', path: '/b' }]],
  ['replace a missing member', { a: 1 }, [{ op: 'replace', path: '/b', value: 1 }]],
  ['a prototype member is not a member', {}, [{ op: 'remove', path: '/toString' }]],
  ['add under the prototype', {}, [{ op: 'add', path: '/__proto__/polluted', value: true }]],
  ['an index past the end', { l: [1] }, [{ op: 'add', path: '/l/2', value: 1 }]],
  ['an index with a leading zero', { l: [1, 2] }, [{ op: 'remove', path: '/l/01' }]],
  ['- names no item to remove', { l: [1] }, [{ op: 'remove', path: '/l/-' }]],
  ['move into its own child', { a: { b: {} } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]],
  // a value that is not JSON cannot be copied in
  ['a value that cannot be copied', {}, [{ op: 'add', path: '/f', value: () => 1 }]],
];

for (const [name, doc, ops, want] of APPLIES) {
  test(`applies: ${name}`, () => {
    const before = structuredClone(doc);
    assert.deepStrictEqual(applyJsonPatch(doc, ops), want);
    assert.deepStrictEqual(doc, before, 'the document given is not changed');
  });
}

for (const [name, doc, ops] of REFUSES) {
  test(`refuses: ${name}`, () => {
    assert.throws(() => applyJsonPatch(doc, ops), (e) => e instanceof PatchError, 'a PatchError');
  });
}

test('a refused patch applies nothing (all or nothing)', () => {
  const doc = { a: 1, l: [1, 2], o: { x: 1 } };
  const before = structuredClone(doc);
  const ops = [
    { op: 'add', path: '/b', value: 2 },
    { op: 'remove', path: '/l/0' },
    { op: 'replace', path: '/o/x', value: 3 },
    { op: 'test', path: '/a', value: 2 },
  ];
  assert.throws(() => applyJsonPatch(doc, ops), PatchError);
  assert.deepStrictEqual(doc, before);
  // Without the failing test, the same ops apply.
  assert.deepStrictEqual(applyJsonPatch(doc, ops.slice(0, 3)), { a: 1, b: 2, l: [2], o: { x: 3 } });
});

test('no patch reaches Object.prototype', () => {
  const out = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]);
  assert.equal(Object.hasOwn(out, '__proto__'), true);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.equal({}.polluted, undefined);
  assert.equal(JSON.stringify(out), '{"__proto__":{"polluted":true}}');
});
