import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { StorageError } from '../../storage/errors.js';
import type { StsPlace } from './sts.js';
import { type AwsCredentials, type CredentialSource, CredentialsNotConfigured } from './types.js';

export interface ProfileOptions {
  /** Default `$AWS_PROFILE`, else `default`. */
  profile?: string;
  /** MFA code for `mfa_serial`; without it the code is asked on the terminal (if there is one). */
  mfaToken?: string;
  /** STS for `role_arn` profiles. */
  sts?: StsPlace;
  required?: boolean;
}

/**
 * A profile of `~/.aws/credentials` / `~/.aws/config` (`AWS_SHARED_CREDENTIALS_FILE`,
 * `AWS_CONFIG_FILE`), with everything the AWS CLI understands there: keys, `role_arn` +
 * `source_profile` / `credential_source`, `external_id`, `mfa_serial`, `duration_seconds`,
 * `credential_process`, `web_identity_token_file`. The files are read again on every refresh.
 * The AWS SDK's own ini provider does the resolving (it is right about the many combinations);
 * Ferry adds the file locations from the given environment, the STS endpoint and the MFA prompt.
 */
export function profileSource(env: NodeJS.ProcessEnv, options: ProfileOptions = {}): CredentialSource {
  const home = env.HOME || homedir();
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials');
  const configFile = env.AWS_CONFIG_FILE || join(home, '.aws', 'config');
  const profile = options.profile || env.AWS_PROFILE || env.AWS_DEFAULT_PROFILE || 'default';
  const explicit = Boolean(options.required || options.profile || env.AWS_PROFILE);
  return {
    name: 'profile',
    detail: `profile "${profile}" (${credentialsFile}, ${configFile})`,
    provider: async (): Promise<AwsCredentials> => {
      if (!profileExists(profile, credentialsFile, configFile)) {
        const msg = `no profile "${profile}" in ${credentialsFile} or ${configFile}`;
        if (explicit) throw new StorageError('InvalidArgument', msg);
        throw new CredentialsNotConfigured(msg);
      }
      // The SDK's resolver (and the STS and SSO clients it brings) is loaded only for a profile.
      const { fromIni } = await import('@aws-sdk/credential-provider-ini');
      const provider = fromIni({
        profile,
        filepath: credentialsFile,
        configFilepath: configFile,
        ignoreCache: true,
        mfaCodeProvider: (serial) => mfaCode(serial, options.mfaToken),
        clientConfig: { region: options.sts?.region ?? 'us-east-1', endpoint: options.sts?.endpoint },
      });
      try {
        const c = await provider();
        return {
          accessKeyId: c.accessKeyId,
          secretAccessKey: c.secretAccessKey,
          sessionToken: c.sessionToken,
          expiration: c.expiration,
        };
      } catch (err) {
        if (err instanceof StorageError) throw err;
        const e = err as Error;
        throw new StorageError('PermissionDenied', `profile "${profile}": ${e.message}`, { cause: err });
      }
    },
  };
}

/** True when `[name]` is in the credentials file or `[profile name]` (`[default]`) in the config. */
export function profileExists(name: string, credentialsFile: string, configFile: string): boolean {
  const sections = (file: string) => {
    try {
      return [...readFileSync(file, 'utf8').matchAll(/^\s*\[\s*([^\]]+?)\s*\]/gm)].map((m) => m[1]!);
    } catch {
      return [];
    }
  };
  return (
    sections(credentialsFile).includes(name) ||
    sections(configFile).some((s) => s === `profile ${name}` || (name === 'default' && s === 'default'))
  );
}

async function mfaCode(serial: string, given: string | undefined): Promise<string> {
  if (given) return given;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new StorageError(
      'InvalidArgument',
      `the profile needs an MFA code for ${serial}: pass --mfa-token CODE`,
    );
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(`MFA code for ${serial}: `)).trim();
  } finally {
    rl.close();
  }
}
