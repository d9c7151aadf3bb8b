import type { MiddlewareStack } from '@smithy/types';

/**
 * Ask for `Connection: close` on this request (see `DownloadTuning.closeFirstConnection`: the
 * RGW small-GET stall on reused connections).
 */
export function closeConnectionAfter<I extends object, O extends object>(command: {
  middlewareStack: MiddlewareStack<I, O>;
}): void {
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers.connection = 'close';
      return next(args);
    },
    { step: 'build', name: 'ferryConnectionClose' },
  );
}
