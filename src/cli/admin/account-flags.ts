import type { Command } from 'commander';
import type { AccountSettings } from '../../accounts/model.js';
import { storageTargetFrom } from '../../server/locations.js';
import { StorageError } from '../../storage/errors.js';
import { parseBytes } from '../output.js';
import type { AdminApi } from './admin-api.js';
import { collect, intOption } from './admin-command.js';

/**
 * Flags for the settings users have and groups give their members (accountSettingsSchema in
 * src/accounts/model.ts, which validates them: its messages name the field).
 */
export function addAccountFlags(command: Command): Command {
  return command
    .option('--description <text>', 'a note about the account')
    .option(
      '--home <location>',
      'where / is: s3://bucket/prefix/ (becomes or reuses a connection), an absolute folder, or CONNECTION:prefix',
    )
    .option(
      '--permission <path=perms>',
      'permissions at a path and below, e.g. /=list,download or /incoming=upload (repeatable; * for all)',
      collect,
    )
    .option('--quota-bytes <size>', 'bytes the files may take (10G, 500M …)')
    .option('--quota-files <n>', 'number of files', intOption('--quota-files'))
    .option('--upload-rate <bytes/s>', 'upload bandwidth limit (1M = 1 MiB/s)')
    .option('--download-rate <bytes/s>', 'download bandwidth limit')
    .option('--max-sessions <n>', 'concurrent sessions', intOption('--max-sessions'))
    .option('--allow-ip <cidr>', 'logins only from these addresses (repeatable)', collect)
    .option('--deny-ip <cidr>', 'logins refused from these addresses (repeatable)', collect)
    .option('--setstat <mode>', 'chmod/chown requests: ignore or refuse');
}

export interface AccountFlagValues {
  description?: string;
  home?: string;
  permission?: string[];
  quotaBytes?: string;
  quotaFiles?: number;
  uploadRate?: string;
  downloadRate?: string;
  maxSessions?: number;
  allowIp?: string[];
  denyIp?: string[];
  setstat?: string;
}

/** The settings the flags give (only those given), and notes to print (a connection created). */
export async function accountSettingsFrom(
  opts: AccountFlagValues,
  api: AdminApi,
): Promise<{ settings: Partial<AccountSettings>; notes: string[] }> {
  const settings: Record<string, unknown> = {};
  const notes: string[] = [];
  if (opts.description !== undefined) settings.description = opts.description;
  if (opts.home !== undefined) {
    const home = await storageTargetFrom(opts.home, api.connections, '--home');
    settings.home = home.target;
    if (home.note) notes.push(home.note);
  }
  if (opts.permission) {
    const map: Record<string, string[]> = {};
    for (const entry of opts.permission) {
      const eq = entry.lastIndexOf('=');
      if (eq <= 0)
        throw new StorageError('InvalidArgument', `--permission: expected PATH=perm,perm, got ${entry}`);
      map[entry.slice(0, eq)] = entry
        .slice(eq + 1)
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean);
    }
    settings.permissions = map;
  }
  if (opts.quotaBytes !== undefined || opts.quotaFiles !== undefined) {
    settings.quota = {
      ...(opts.quotaBytes !== undefined && { bytes: bytes('--quota-bytes', opts.quotaBytes) }),
      ...(opts.quotaFiles !== undefined && { files: opts.quotaFiles }),
    };
  }
  if (opts.uploadRate !== undefined || opts.downloadRate !== undefined) {
    settings.bandwidth = {
      ...(opts.uploadRate !== undefined && { uploadBytesPerSecond: bytes('--upload-rate', opts.uploadRate) }),
      ...(opts.downloadRate !== undefined && {
        downloadBytesPerSecond: bytes('--download-rate', opts.downloadRate),
      }),
    };
  }
  if (opts.maxSessions !== undefined) settings.maxSessions = opts.maxSessions;
  if (opts.allowIp) settings.allowedIps = opts.allowIp;
  if (opts.denyIp) settings.deniedIps = opts.denyIp;
  if (opts.setstat !== undefined) settings.setstatMode = opts.setstat;
  return { settings: settings as Partial<AccountSettings>, notes };
}

function bytes(flag: string, value: string): number {
  try {
    return parseBytes(value);
  } catch (err) {
    throw new StorageError('InvalidArgument', `${flag}: ${(err as Error).message}`);
  }
}
