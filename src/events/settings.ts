/** `events.*` of the server configuration. */
export interface EventsSettings {
  /** Run a delivery worker on this node (rules are matched and queued either way). */
  worker: boolean;
  pollMilliseconds: number;
  retryBaseMilliseconds: number;
  retryMaxMilliseconds: number;
  maxAttempts: number;
  leaseSeconds: number;
  concurrency: number;
  keepDoneHours: number;
}

export const defaultEventsSettings: EventsSettings = {
  worker: true,
  pollMilliseconds: 1000,
  retryBaseMilliseconds: 10_000,
  retryMaxMilliseconds: 3_600_000,
  maxAttempts: 12,
  leaseSeconds: 300,
  concurrency: 16,
  keepDoneHours: 168,
};
