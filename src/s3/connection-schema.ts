import { z } from 'zod';
import { connectionSchemas } from './connection-fields.js';

/**
 * The S3 connection schema (connection-fields.ts) on the program's zod: for the API and account
 * schemas built from its fields, and for tests. Validation itself goes through parseConnection
 * (connection.ts), which needs no zod for a plainly valid input.
 */
export const { fields: s3ConnectionFields, schema: s3ConnectionSchema } = connectionSchemas(z);
