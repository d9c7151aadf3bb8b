/**
 * Split an `exec` command line into words the way a POSIX shell does for the simple commands
 * SSH clients send (`scp -t -- '/dir/my file'`, `md5sum "a b"`): whitespace separates words;
 * single quotes keep everything literally; double quotes keep everything but `\"`, `\\`, `\$`,
 * `` \` `` and `\<newline>`; a backslash outside quotes escapes the next character. No
 * expansion of any kind (no globs, variables, substitutions): a word is what the client wrote.
 * Throws on an unterminated quote or a trailing backslash, and ShellSyntaxError on what a shell
 * would run as more than one simple command: unquoted `;` `&` `|` `<` `>` `(` `)` or newline, and
 * `$(…)` or backquotes outside single quotes. Taking those as parts of names would hash or copy
 * other files than a user who wrote `md5sum a; rm a` meant, and say nothing.
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i] as string;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    if (OPERATORS.includes(c) || (c === '$' && line[i + 1] === '(')) throw operator(c);
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error('unterminated single quote');
      word += line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new Error('unterminated double quote');
        const d = line[i] as string;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '`' || (d === '$' && line[i + 1] === '(')) throw operator(d);
        if (d === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1] as string)) {
          if (line[i + 1] !== '\n') word += line[i + 1];
          i += 2;
          continue;
        }
        word += d;
        i++;
      }
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new Error('trailing backslash');
      if (line[i + 1] !== '\n') word += line[i + 1];
      i += 2;
    } else {
      word += c;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A command line a shell would run as more than one simple command (see shellWords). */
export class ShellSyntaxError extends Error {
  override readonly name = 'ShellSyntaxError';
}

/** Unquoted, each of these makes a shell do more than run one command with its words. */
const OPERATORS = ';&|<>()`\n';

function operator(c: string): ShellSyntaxError {
  const shown = c === '\n' ? 'a newline' : c === '$' ? '$(' : c;
  return new ShellSyntaxError(
    `${shown} is shell syntax, and there is no shell here: one command only, with names that hold ` +
      'such characters quoted',
  );
}
