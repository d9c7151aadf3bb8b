import { afterAll, beforeAll } from 'vitest';

/**
 * A describe block's shared set-up, made once: `open()` runs in beforeAll, the made value's
 * `close()` in afterAll. Call it in the describe body; the returned object reads the made value's
 * fields from the hooks and tests (reading one before beforeAll has run is an error, not
 * `undefined`). The value should be a plain object (its methods are called with the proxy as
 * `this`). Hooks of the block registered after this call run after `open()` and (vitest runs
 * after-hooks in reverse) before `close()`.
 */
export function suiteFixture<T extends { close(): unknown }>(open: () => Promise<T>): T {
  let value: T | undefined;
  beforeAll(async () => {
    value = await open();
  });
  afterAll(async () => {
    await value?.close();
  });
  return new Proxy({} as T, {
    get(_, prop) {
      if (!value) throw new Error(`test set-up: ${String(prop)} read before beforeAll made it`);
      return Reflect.get(value, prop);
    },
  });
}
