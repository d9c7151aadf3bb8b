/**
 * Run `fn` on every item of a (possibly async, possibly endless-until-drained) iterable with at
 * most `limit` calls in flight, pulling items only as slots free up, so a listing of millions of
 * keys is never held in memory. On the first failure no new item is started; the calls already
 * running are awaited and the first error is thrown.
 */
export async function forEachConcurrent<T>(
  items: AsyncIterable<T> | Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const iterator =
    Symbol.asyncIterator in items
      ? (items as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (items as Iterable<T>)[Symbol.iterator]();
  let failed = false;
  let firstError: unknown;
  let pulling: Promise<unknown> = Promise.resolve();

  // Each worker pulls the next item (serialised through `pulling`, since async iterators may not
  // be called concurrently) and processes it, until the source is drained or something failed.
  const worker = async () => {
    while (!failed) {
      const next = pulling.then(() => iterator.next()) as Promise<IteratorResult<T>>;
      pulling = next;
      let result: IteratorResult<T>;
      try {
        result = await next;
      } catch (err) {
        if (!failed) [failed, firstError] = [true, err];
        return;
      }
      if (result.done) return;
      try {
        await fn(result.value);
      } catch (err) {
        if (!failed) [failed, firstError] = [true, err];
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failed) {
    await iterator.return?.();
    throw firstError;
  }
}
