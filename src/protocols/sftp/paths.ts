import { StorageError } from '../../storage/errors.js';

/**
 * The absolute virtual path of what a client sent, lexically: `.` dropped, `..` removes the
 * previous segment but never climbs above `/` (the user's home), empty segments collapse, a
 * relative path starts at `/` (the SFTP server's working folder). This is REALPATH's answer and
 * the key of the channel's handle table; the session resolves the same path again itself (mounts,
 * permissions), so nothing here decides where a path goes. A control character (NUL …) is
 * InvalidArgument here already, as in the session: REALPATH must not hand back a path that every
 * other request refuses.
 */
export function virtualPath(path: string): string {
  if (CONTROL.test(path)) {
    throw new StorageError('InvalidArgument', `path contains a control character: ${JSON.stringify(path)}`);
  }
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

// C0 controls, DEL and C1 controls, as src/session/resolve.ts refuses them.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
