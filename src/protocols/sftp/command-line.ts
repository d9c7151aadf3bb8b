/**
 * Split an SSH `exec` command line into words the way a POSIX shell would for the commands Ferry
 * runs itself (`scp -t …`, `md5sum …`). Clients quote for a remote shell: OpenSSH's legacy `scp`
 * sends the user's remote path as typed (`scp host:'my file' .` arrives as `scp -f my file`,
 * `scp 'host:my\ file' .` as `scp -f my\ file`), so the quoting rules matter, not just spaces.
 *
 * Supported: blanks between words, backslash escapes, '…' (literal), "…" (backslash escapes only
 * `$`, `` ` ``, `"`, `\` and newline). Refused with a clear message (there is no shell here, and
 * guessing would run something else than the client meant): unquoted `;`, `&`, `|`, `<`, `>`,
 * `(`, `)`, `` ` ``, `$`, a newline, and an unterminated quote.
 */

export class CommandLineError extends Error {
  override readonly name = 'CommandLineError';
}

const BLANK = new Set([' ', '\t']);
const SPECIAL = new Set([';', '&', '|', '<', '>', '(', ')', '`', '$', '\n']);

export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let cur: string | undefined;
  const add = (text: string) => {
    cur = (cur ?? '') + text;
  };
  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    if (BLANK.has(ch)) {
      if (cur) words.push(cur);
      cur = undefined;
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= line.length) throw new CommandLineError('the command line ends with a lone backslash');
      // Backslash-newline is a line continuation in a shell: nothing.
      if (line[i + 1] !== '\n') add(line[i + 1]!);
      i += 2;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new CommandLineError('unterminated single quote in the command line');
      cur ??= '';
      add(line.slice(i + 1, end));
      i = end + 1;
    } else if (ch === '"') {
      cur ??= '';
      i++;
      for (;;) {
        if (i >= line.length) throw new CommandLineError('unterminated double quote in the command line');
        const c = line[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '$' || c === '`') {
          throw new CommandLineError(`shell substitutions ("${c}") are not supported in the command line`);
        }
        if (c === '\\' && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1]!)) {
          if (line[i + 1] !== '\n') add(line[i + 1]!);
          i += 2;
          continue;
        }
        add(c);
        i++;
      }
    } else if (SPECIAL.has(ch)) {
      throw new CommandLineError(
        `shell syntax ${JSON.stringify(ch)} is not supported: this server runs scp and the hash commands itself, without a shell`,
      );
    } else {
      add(ch);
      i++;
    }
  }
  if (cur) words.push(cur);
  return words;
}
