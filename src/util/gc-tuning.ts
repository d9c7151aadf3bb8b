import { setFlagsFromString } from 'node:v8';

/**
 * How much V8 lets its old generation grow past what a full collection (Mark-Compact) left,
 * before it starts the next one, in percent: 100 = twice the live size.
 *
 * Why: a transfer keeps V8's own heap small (~30 MB) and moves its bytes in buffers outside it
 * (socket reads, SSH packets, part buffers). V8 left to itself sets the next limit at
 * max(1.1 × live, live + 8 MB) when the program allocates little in the old generation — ~8 MB of
 * room — and counts the outside memory allocated since the last Mark-Compact against that room.
 * The buffers of one busy second fill it, and marking starts again right after each Mark-Compact:
 * an SFTP download ran one every 0.3–1 s for its whole length (13–23 per 128 MiB, ~2.5× the server
 * CPU per MiB; docs/notes/issue-9.md "Session 5: download"). At twice the live size the room is
 * ~30 MB and the same download runs 1–3. The outside memory keeps its own bound (V8 collects when
 * it grows 64 MB past its low since the last Mark-Compact), so memory grows by at most the live
 * size of V8's heap. `FERRY_HEAP_GROWING_PERCENT` overrides (0: V8's own rule).
 */
export const HEAP_GROWING_PERCENT = 100;

/** Apply Ferry's GC tuning to this process (V8 reads the setting at every Mark-Compact). */
export function tuneGc(env: NodeJS.ProcessEnv = process.env): void {
  const set = Number.parseInt(env.FERRY_HEAP_GROWING_PERCENT ?? '', 10);
  const percent = set >= 0 ? set : HEAP_GROWING_PERCENT;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
