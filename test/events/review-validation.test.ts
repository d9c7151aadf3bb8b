import { describe, expect, it } from 'vitest';
import { ruleInputSchema } from '../../src/events/model.js';

describe('review: rule validation', () => {
  it('refuses a webhook URL with a user and password in it (shown in views, refused by fetch)', () => {
    const r = ruleInputSchema.safeParse({
      name: 'creds',
      on: ['upload'],
      actions: [{ type: 'webhook', url: 'https://alice:s3cret@hooks.example.com/in' }],
    });
    expect(r.success).toBe(false);
    const issue = r.error?.issues[0];
    expect(issue?.path).toEqual(['actions', 0, 'url']);
    expect(issue?.message).not.toContain('s3cret');
  });
});
