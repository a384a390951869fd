/**
 * A one-line editor for a terminal: printable input, backspace/delete, left/right/home/end, history on up/down,
 * tab completion, Ctrl+C, Ctrl+L. It turns the terminal's input strings into screen writes and submitted lines;
 * it knows nothing of xterm (give it a `write`).
 */
export interface LineEditorOptions {
  write: (s: string) => void;
  prompt: string;
  /** Completions for the text before the cursor: candidates for the last word. */
  complete: (before: string) => readonly string[];
  onSubmit: (line: string) => void;
  onClearScreen: () => void;
  maxHistory?: number;
}

const TYPE_AHEAD_MAX = 4096;

export class LineEditor {
  private buf = '';
  private cursor = 0;
  private readonly history: string[] = [];
  private histIndex = -1;
  private draft = '';
  /** Keys typed while a command runs, replayed at the next prompt as a terminal would (bounded: a paste, not a flood). */
  private typedAhead = '';
  busy = false;

  constructor(private readonly o: LineEditorOptions) {}

  get line(): string {
    return this.buf;
  }

  get historyList(): readonly string[] {
    return this.history;
  }

  showPrompt(): void {
    this.buf = '';
    this.cursor = 0;
    this.histIndex = -1;
    this.o.write(this.o.prompt);
    if (this.typedAhead && !this.busy) {
      const keys = this.typedAhead;
      this.typedAhead = '';
      this.feed(keys);
    }
  }

  /** Input from the terminal (keys or a paste). */
  feed(data: string): void {
    if (this.busy) {
      // Ctrl+C drops what was typed ahead; anything else waits for the prompt.
      if (data.includes('\x03')) {
        this.typedAhead = '';
        this.o.write('^C');
      } else this.typedAhead = (this.typedAhead + data).slice(0, TYPE_AHEAD_MAX);
      return;
    }
    let i = 0;
    while (i < data.length) {
      const rest = data.slice(i);
      // eslint-disable-next-line no-control-regex -- terminal escape sequences start with ESC
      const esc = /^\x1b(\[[0-9;]*[A-Za-z~]|O[A-Za-z])/.exec(rest);
      if (esc) {
        this.escape(esc[0]);
        i += esc[0].length;
        continue;
      }
      const ch = data[i]!;
      i++;
      switch (ch) {
        case '\r':
        case '\n': {
          if (ch === '\n' && data[i - 2] === '\r') break;
          const line = this.buf;
          this.o.write('\r\n');
          if (line.trim() && this.history.at(-1) !== line) {
            this.history.push(line);
            if (this.history.length > (this.o.maxHistory ?? 200)) this.history.shift();
          }
          this.histIndex = -1;
          this.buf = '';
          this.cursor = 0;
          this.o.onSubmit(line);
          if (!this.busy) continue;
          // The command runs on: the rest of this input is typed ahead of its prompt.
          this.typedAhead = (data.slice(i) + this.typedAhead).slice(0, TYPE_AHEAD_MAX);
          return;
        }
        case '\x7f':
        case '\b':
          if (this.cursor > 0) {
            this.buf = this.buf.slice(0, this.cursor - 1) + this.buf.slice(this.cursor);
            this.cursor--;
            this.redraw();
          }
          break;
        case '\t':
          this.tab();
          break;
        case '\x03':
          this.o.write('^C\r\n');
          this.showPrompt();
          break;
        case '\x0c':
          this.o.onClearScreen();
          this.redraw();
          break;
        case '\x01':
          this.cursor = 0;
          this.redraw();
          break;
        case '\x05':
          this.cursor = this.buf.length;
          this.redraw();
          break;
        case '\x15':
          this.buf = this.buf.slice(this.cursor);
          this.cursor = 0;
          this.redraw();
          break;
        default:
          if (ch >= ' ') this.insert(ch);
          break;
      }
    }
  }

  private insert(s: string): void {
    this.buf = this.buf.slice(0, this.cursor) + s + this.buf.slice(this.cursor);
    this.cursor += s.length;
    if (this.cursor === this.buf.length) this.o.write(s);
    else this.redraw();
  }

  private escape(seq: string): void {
    switch (seq) {
      case '\x1b[A':
      case '\x1bOA':
        this.historyStep(-1);
        break;
      case '\x1b[B':
      case '\x1bOB':
        this.historyStep(1);
        break;
      case '\x1b[C':
      case '\x1bOC':
        if (this.cursor < this.buf.length) {
          this.cursor++;
          this.o.write(seq);
        }
        break;
      case '\x1b[D':
      case '\x1bOD':
        if (this.cursor > 0) {
          this.cursor--;
          this.o.write(seq);
        }
        break;
      case '\x1b[H':
      case '\x1bOH':
      case '\x1b[1~':
        this.cursor = 0;
        this.redraw();
        break;
      case '\x1b[F':
      case '\x1bOF':
      case '\x1b[4~':
        this.cursor = this.buf.length;
        this.redraw();
        break;
      case '\x1b[3~':
        if (this.cursor < this.buf.length) {
          this.buf = this.buf.slice(0, this.cursor) + this.buf.slice(this.cursor + 1);
          this.redraw();
        }
        break;
      default:
        break;
    }
  }

  private historyStep(d: number): void {
    if (!this.history.length) return;
    if (this.histIndex === -1) {
      if (d > 0) return;
      this.draft = this.buf;
      this.histIndex = this.history.length - 1;
    } else {
      this.histIndex += d;
      if (this.histIndex >= this.history.length) {
        this.histIndex = -1;
        this.buf = this.draft;
        this.cursor = this.buf.length;
        this.redraw();
        return;
      }
      this.histIndex = Math.max(0, this.histIndex);
    }
    this.buf = this.history[this.histIndex]!;
    this.cursor = this.buf.length;
    this.redraw();
  }

  private tab(): void {
    const before = this.buf.slice(0, this.cursor);
    const word = /(\S*)$/.exec(before)![1]!;
    const cands = this.o.complete(before);
    if (!cands.length) return;
    if (cands.length === 1) {
      this.insert(cands[0]!.slice(word.length) + ' ');
      return;
    }
    const common = commonPrefix(cands);
    if (common.length > word.length) {
      this.insert(common.slice(word.length));
      return;
    }
    this.o.write('\r\n' + cands.join('  ') + '\r\n');
    this.redraw();
  }

  private redraw(): void {
    const back = this.buf.length - this.cursor;
    this.o.write('\r\x1b[2K' + this.o.prompt + this.buf + (back ? `\x1b[${back}D` : ''));
  }
}

function commonPrefix(xs: readonly string[]): string {
  let p = xs[0] ?? '';
  for (const x of xs) while (!x.startsWith(p)) p = p.slice(0, -1);
  return p;
}
