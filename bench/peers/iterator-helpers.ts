/**
 * Minimal ES2025 iterator helpers (`Iterator.prototype.map`, `filter`, `toArray`, ...) for
 * Node 20, which lacks them.
 *
 * jax-js's einsum parser calls `.map()` on the iterator `String.prototype.matchAll` returns; on
 * Node 20 that throws `TypeError: ... .map is not a function`. This lives in bench/ only: the
 * project itself does not depend on it, and it installs nothing when the runtime already has the
 * helpers (Node 22+), so it never shadows a native implementation.
 */

type AnyIterator = Iterator<unknown> & Iterable<unknown>;
type Fn = (value: unknown, index: number) => unknown;

/** %IteratorPrototype%: the prototype every built-in iterator (and every generator) inherits. */
const iteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as Record<string, unknown>;

function* mapGen(it: AnyIterator, fn: Fn): Generator<unknown> {
  let i = 0;
  for (const v of iterate(it)) yield fn(v, i++);
}
function* filterGen(it: AnyIterator, fn: Fn): Generator<unknown> {
  let i = 0;
  for (const v of iterate(it)) if (fn(v, i++)) yield v;
}
function* flatMapGen(it: AnyIterator, fn: Fn): Generator<unknown> {
  let i = 0;
  for (const v of iterate(it)) yield* fn(v, i++) as Iterable<unknown>;
}
function* takeGen(it: AnyIterator, n: number): Generator<unknown> {
  if (n <= 0) return;
  let i = 0;
  for (const v of iterate(it)) {
    yield v;
    if (++i >= n) return;
  }
}
function* dropGen(it: AnyIterator, n: number): Generator<unknown> {
  let i = 0;
  for (const v of iterate(it)) if (i++ >= n) yield v;
}

/** Walks `it` by its own `next()`, so helpers also work on iterators that are not iterable. */
function* iterate(it: Iterator<unknown>): Generator<unknown> {
  for (let r = it.next(); r.done !== true; r = it.next()) yield r.value;
}

const helpers: Record<string, (this: AnyIterator, ...args: never[]) => unknown> = {
  map(this: AnyIterator, fn: Fn) {
    return mapGen(this, fn);
  },
  filter(this: AnyIterator, fn: Fn) {
    return filterGen(this, fn);
  },
  flatMap(this: AnyIterator, fn: Fn) {
    return flatMapGen(this, fn);
  },
  take(this: AnyIterator, n: number) {
    return takeGen(this, n);
  },
  drop(this: AnyIterator, n: number) {
    return dropGen(this, n);
  },
  toArray(this: AnyIterator) {
    return [...iterate(this)];
  },
  forEach(this: AnyIterator, fn: Fn) {
    let i = 0;
    for (const v of iterate(this)) fn(v, i++);
  },
  some(this: AnyIterator, fn: Fn) {
    let i = 0;
    for (const v of iterate(this)) if (fn(v, i++)) return true;
    return false;
  },
  every(this: AnyIterator, fn: Fn) {
    let i = 0;
    for (const v of iterate(this)) if (!fn(v, i++)) return false;
    return true;
  },
  find(this: AnyIterator, fn: Fn) {
    let i = 0;
    for (const v of iterate(this)) if (fn(v, i++)) return v;
    return undefined;
  },
  reduce(this: AnyIterator, fn: (acc: unknown, v: unknown, i: number) => unknown, ...init: unknown[]) {
    let i = 0;
    const gen = iterate(this);
    let acc: unknown;
    if (init.length > 0) acc = init[0];
    else {
      const first = gen.next();
      if (first.done === true) throw new TypeError('Reduce of empty iterator with no initial value');
      acc = first.value;
      i = 1;
    }
    for (const v of gen) acc = fn(acc, v, i++);
    return acc;
  },
};

/** Installs the missing helpers (non-enumerable, like the native ones). Returns their names. */
export function installIteratorHelpers(): string[] {
  const installed: string[] = [];
  for (const [name, fn] of Object.entries(helpers)) {
    if (typeof iteratorPrototype[name] === 'function') continue;
    Object.defineProperty(iteratorPrototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
    installed.push(name);
  }
  const g = globalThis as Record<string, unknown>;
  if (g['Iterator'] === undefined) {
    // The global `Iterator` constructor is part of the same proposal; code may test for it.
    function Iterator(): void {
      throw new TypeError('Iterator is abstract');
    }
    Object.defineProperty(Iterator, 'prototype', { value: iteratorPrototype, writable: false });
    Object.defineProperty(globalThis, 'Iterator', { value: Iterator, writable: true, configurable: true, enumerable: false });
    installed.push('Iterator');
  }
  return installed;
}
