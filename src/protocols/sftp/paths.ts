/**
 * The absolute virtual path of what a client sent, lexically: `.` dropped, `..` removes the
 * previous segment but never climbs above `/` (the user's home), empty segments collapse, a
 * relative path starts at `/` (the SFTP server's working folder). This is REALPATH's answer and
 * the key of the channel's handle table; the session resolves the same path again itself (mounts,
 * permissions), so nothing here decides where a path goes.
 */
export function virtualPath(path: string): string {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}
