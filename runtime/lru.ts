/**
 * A small least-recently-used map for the runtime's caches (uniform buffers, bind groups), so a
 * long-running app that feeds many shapes does not accumulate GPU objects forever.
 */
export class LruMap<K, V> {
  readonly #map = new Map<K, V>();

  constructor(
    readonly capacity: number,
    /** Called with each entry pushed out (e.g. to destroy a GPU buffer). */
    private readonly onEvict: (value: V, key: K) => void = () => {},
  ) {}

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.capacity) {
      const [oldKey, oldValue] = this.#map.entries().next().value as [K, V];
      this.#map.delete(oldKey);
      this.onEvict(oldValue, oldKey);
    }
  }

  /** Empties the map, evicting every entry. */
  clear(): void {
    for (const [key, value] of this.#map) this.onEvict(value, key);
    this.#map.clear();
  }
}
