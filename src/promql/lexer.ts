/**
 * The PromQL lexer. It follows Prometheus' lexer state by state (statements, inside braces,
 * inside brackets), so that what is a token, a keyword or an error, and the error texts, are the
 * same. Positions are UTF-16 offsets into the input.
 */

export type TokenType =
  | 'EOF' | 'ERROR' | 'COMMENT'
  | 'IDENTIFIER' | 'METRIC_IDENTIFIER' | 'NUMBER' | 'DURATION' | 'STRING'
  | 'LEFT_PAREN' | 'RIGHT_PAREN' | 'LEFT_BRACE' | 'RIGHT_BRACE' | 'LEFT_BRACKET' | 'RIGHT_BRACKET'
  | 'COMMA' | 'EQL' | 'COLON'
  // Operators.
  | 'ADD' | 'SUB' | 'MUL' | 'DIV' | 'MOD' | 'POW' | 'EQLC' | 'NEQ' | 'LSS' | 'LTE' | 'GTR' | 'GTE'
  | 'EQL_REGEX' | 'NEQ_REGEX' | 'AT' | 'LAND' | 'LOR' | 'LUNLESS' | 'ATAN2' | 'TRIM_UPPER' | 'TRIM_LOWER'
  // Aggregators.
  | 'SUM' | 'AVG' | 'COUNT' | 'MIN' | 'MAX' | 'GROUP' | 'STDDEV' | 'STDVAR' | 'TOPK' | 'BOTTOMK'
  | 'COUNT_VALUES' | 'QUANTILE' | 'LIMITK' | 'LIMIT_RATIO'
  // Keywords.
  | 'OFFSET' | 'SMOOTHED' | 'ANCHORED' | 'BY' | 'WITHOUT' | 'ON' | 'IGNORING' | 'GROUP_LEFT' | 'GROUP_RIGHT'
  | 'FILL' | 'FILL_LEFT' | 'FILL_RIGHT' | 'BOOL'
  // Preprocessors.
  | 'START' | 'END' | 'STEP' | 'RANGE';

export interface Token {
  type: TokenType;
  /** UTF-16 offset of the first character. */
  pos: number;
  /** Source text (for ERROR: the message). */
  val: string;
}

export const KEYWORDS: Readonly<Record<string, TokenType>> = {
  and: 'LAND', or: 'LOR', unless: 'LUNLESS', atan2: 'ATAN2',
  sum: 'SUM', avg: 'AVG', count: 'COUNT', min: 'MIN', max: 'MAX', group: 'GROUP', stddev: 'STDDEV', stdvar: 'STDVAR',
  topk: 'TOPK', bottomk: 'BOTTOMK', count_values: 'COUNT_VALUES', quantile: 'QUANTILE', limitk: 'LIMITK', limit_ratio: 'LIMIT_RATIO',
  offset: 'OFFSET', smoothed: 'SMOOTHED', anchored: 'ANCHORED', by: 'BY', without: 'WITHOUT', on: 'ON', ignoring: 'IGNORING',
  group_left: 'GROUP_LEFT', group_right: 'GROUP_RIGHT', fill: 'FILL', fill_left: 'FILL_LEFT', fill_right: 'FILL_RIGHT', bool: 'BOOL',
  start: 'START', end: 'END', step: 'STEP', range: 'RANGE',
};

const OPERATORS = new Set<TokenType>(['ADD', 'SUB', 'MUL', 'DIV', 'MOD', 'POW', 'EQLC', 'NEQ', 'LSS', 'LTE', 'GTR', 'GTE', 'EQL_REGEX', 'NEQ_REGEX', 'AT', 'LAND', 'LOR', 'LUNLESS', 'ATAN2', 'TRIM_UPPER', 'TRIM_LOWER']);
const AGGREGATORS = new Set<TokenType>(['SUM', 'AVG', 'COUNT', 'MIN', 'MAX', 'GROUP', 'STDDEV', 'STDVAR', 'TOPK', 'BOTTOMK', 'COUNT_VALUES', 'QUANTILE', 'LIMITK', 'LIMIT_RATIO']);
const KEYWORD_TYPES = new Set<TokenType>(['OFFSET', 'SMOOTHED', 'ANCHORED', 'BY', 'WITHOUT', 'ON', 'IGNORING', 'GROUP_LEFT', 'GROUP_RIGHT', 'FILL', 'FILL_LEFT', 'FILL_RIGHT', 'BOOL']);
const FIXED_TEXT: Partial<Record<TokenType, string>> = {
  LEFT_PAREN: '(', RIGHT_PAREN: ')', LEFT_BRACE: '{', RIGHT_BRACE: '}', LEFT_BRACKET: '[', RIGHT_BRACKET: ']', COMMA: ',', EQL: '=', COLON: ':',
  START: 'start', END: 'end', STEP: 'step', RANGE: 'range',
};

export function isOperatorToken(t: TokenType): boolean {
  return OPERATORS.has(t);
}
export function isAggregatorToken(t: TokenType): boolean {
  return AGGREGATORS.has(t);
}
export function isKeywordToken(t: TokenType): boolean {
  return KEYWORD_TYPES.has(t);
}

/** Go's %q for a rune. */
export function quoteRune(ch: string): string {
  const c = ch.codePointAt(0)!;
  switch (ch) {
    case "'": return "'\\''";
    case '\\': return "'\\\\'";
    case '\n': return "'\\n'";
    case '\r': return "'\\r'";
    case '\t': return "'\\t'";
    case '\x07': return "'\\a'";
    case '\b': return "'\\b'";
    case '\f': return "'\\f'";
    case '\v': return "'\\v'";
  }
  if (c < 0x20 || c === 0x7f) return "'\\x" + c.toString(16).padStart(2, '0') + "'";
  if (c >= 0xd800 && c <= 0xdfff) return "'\\ufffd'";
  return "'" + ch + "'";
}

/** Go's %q for a string; raw bytes kept as surrogate escapes (U+DC80..U+DCFF) print as `\xNN`. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case '\\': out += '\\\\'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\v': out += '\\v'; continue;
    }
    if (c >= 0xdc80 && c <= 0xdcff) out += '\\x' + (c - 0xdc00).toString(16).padStart(2, '0');
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else if ((c >= 0x80 && c < 0xa0) || c === 0xad) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** Go's `%.10q...` used for long token texts in error messages. */
function quoteTruncated(s: string): string {
  const chars = [...s];
  if (chars.length > 10) return goQuote(chars.slice(0, 10).join('')) + '...';
  return goQuote(s);
}

/** How Prometheus names a token in "unexpected ..." messages. */
export function tokenDesc(t: Token): string {
  if (t.type === 'EOF') return 'end of input';
  const fixed = tokenString(t);
  if (fixed !== undefined) return fixed;
  const kind =
    t.type === 'IDENTIFIER' ? 'identifier'
    : t.type === 'METRIC_IDENTIFIER' ? 'metric identifier'
    : t.type === 'STRING' ? 'string'
    : t.type === 'NUMBER' ? 'number'
    : t.type === 'DURATION' ? 'duration'
    : t.type === 'COMMENT' ? 'comment'
    : t.type === 'ERROR' ? 'error'
    : t.type;
  const str = t.type === 'IDENTIFIER' || t.type === 'METRIC_IDENTIFIER' ? goQuote(t.val) : quoteTruncated(t.val);
  return `${kind} ${str}`;
}

/** Item.String() for token types with a fixed text; undefined for the others. */
function tokenString(t: Token): string | undefined {
  if (isKeywordToken(t.type)) return `<${t.val}>`;
  if (isOperatorToken(t.type)) return `<op:${t.val}>`;
  if (isAggregatorToken(t.type)) return `<aggr:${t.val}>`;
  if (FIXED_TEXT[t.type] !== undefined) return quoteTruncated(t.val);
  return undefined;
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}
function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}
function isAlpha(c: string | undefined): boolean {
  return c !== undefined && (c === '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}
function isAlphaNumeric(c: string | undefined): boolean {
  return isAlpha(c) || isDigit(c);
}

/** Tokenizes a whole expression. The last token is EOF or ERROR. Comments are dropped. */
export function lex(input: string): Token[] {
  return new Lexer(input).run();
}

class Lexer {
  private pos = 0;
  private start = 0;
  private parenDepth = 0;
  private braceOpen = false;
  private bracketOpen = false;
  private gotColon = false;
  private gotDuration = false;
  private readonly out: Token[] = [];

  constructor(private readonly input: string) {}

  run(): Token[] {
    for (;;) {
      const last = this.out[this.out.length - 1];
      if (last && (last.type === 'EOF' || last.type === 'ERROR')) return this.out;
      if (this.braceOpen) this.insideBraces();
      else if (this.bracketOpen) this.durationExpr();
      else this.statements();
    }
  }

  private peek(): string | undefined {
    return this.pos < this.input.length ? this.input[this.pos] : undefined;
  }

  /** Next code point (a surrogate pair is one character). */
  private nextChar(): string | undefined {
    if (this.pos >= this.input.length) return undefined;
    const cp = this.input.codePointAt(this.pos)!;
    const ch = String.fromCodePoint(cp);
    this.pos += ch.length;
    return ch;
  }

  private emit(type: TokenType): void {
    this.out.push({ type, pos: this.start, val: this.input.slice(this.start, this.pos) });
    this.start = this.pos;
  }

  private error(msg: string): void {
    this.out.push({ type: 'ERROR', pos: this.start, val: msg });
  }

  private skipComment(): void {
    while (this.pos < this.input.length && this.input[this.pos] !== '\n' && this.input[this.pos] !== '\r') this.pos++;
    this.start = this.pos;
  }

  private skipSpaces(): void {
    while (isSpace(this.peek())) this.pos++;
    this.start = this.pos;
  }

  private statements(): void {
    if (this.input.startsWith('#', this.pos)) return this.skipComment();
    const ch = this.nextChar();
    switch (ch) {
      case undefined:
        if (this.parenDepth !== 0) return this.error('unclosed left parenthesis');
        if (this.bracketOpen) return this.error('unclosed left bracket');
        return this.emit('EOF');
      case ',': return this.emit('COMMA');
      case ' ': case '\t': case '\n': case '\r': return this.skipSpaces();
      case '*': return this.emit('MUL');
      case '/': return this.emit('DIV');
      case '%': return this.emit('MOD');
      case '+': return this.emit('ADD');
      case '-': return this.emit('SUB');
      case '^': return this.emit('POW');
      case '=': {
        const t = this.peek();
        if (t === '=') {
          this.pos++;
          return this.emit('EQLC');
        }
        if (t === '~') return this.error(`unexpected character after '=': ${quoteRune('~')}`);
        return this.emit('EQL');
      }
      case '!': {
        const t = this.nextChar();
        if (t !== '=') return this.error(`unexpected character after '!': ${t === undefined ? "'\\x00'" : quoteRune(t)}`);
        return this.emit('NEQ');
      }
      case '<':
        if (this.peek() === '=') {
          this.pos++;
          return this.emit('LTE');
        }
        if (this.peek() === '/') {
          this.pos++;
          return this.emit('TRIM_UPPER');
        }
        return this.emit('LSS');
      case '>':
        if (this.peek() === '=') {
          this.pos++;
          return this.emit('GTE');
        }
        if (this.peek() === '/') {
          this.pos++;
          return this.emit('TRIM_LOWER');
        }
        return this.emit('GTR');
      case '"': case "'": return this.string(ch);
      case '`': return this.rawString();
      case '(':
        this.parenDepth++;
        return this.emit('LEFT_PAREN');
      case ')':
        this.parenDepth--;
        if (this.parenDepth < 0) {
          // Prometheus emits the token first, so the error points just after it.
          this.start = this.pos;
          return this.error(`unexpected right parenthesis ${quoteRune(')')}`);
        }
        return this.emit('RIGHT_PAREN');
      case '{':
        this.braceOpen = true;
        return this.emit('LEFT_BRACE');
      case '[':
        this.gotColon = false;
        this.gotDuration = false;
        this.emit('LEFT_BRACKET');
        this.skipSpaces();
        this.bracketOpen = true;
        return;
      case ']':
        return this.error(`unexpected right bracket ${quoteRune(']')}`);
      case '@': return this.emit('AT');
    }
    if (isDigit(ch) || (ch === '.' && isDigit(this.peek()))) {
      this.pos = this.start;
      return this.numberOrDuration();
    }
    if (isAlpha(ch) || ch === ':') {
      this.pos = this.start;
      return this.keywordOrIdentifier();
    }
    return this.error(`unexpected character: ${quoteRune(ch)}`);
  }

  private insideBraces(): void {
    if (this.input.startsWith('#', this.pos)) return this.skipComment();
    const ch = this.nextChar();
    switch (ch) {
      case undefined: return this.error('unexpected end of input inside braces');
      case ' ': case '\t': case '\n': case '\r': return this.skipSpaces();
      case ',': return this.emit('COMMA');
      case '"': case "'": return this.string(ch);
      case '`': return this.rawString();
      case '=':
        if (this.peek() === '~') {
          this.pos++;
          return this.emit('EQL_REGEX');
        }
        return this.emit('EQL');
      case '!': {
        const n = this.nextChar();
        if (n === '~') return this.emit('NEQ_REGEX');
        if (n === '=') return this.emit('NEQ');
        return this.error(`unexpected character after '!' inside braces: ${n === undefined ? "'\\x00'" : quoteRune(n)}`);
      }
      case '{': return this.error(`unexpected left brace ${quoteRune('{')}`);
      case '}':
        this.braceOpen = false;
        return this.emit('RIGHT_BRACE');
    }
    if (isAlpha(ch)) {
      while (isAlphaNumeric(this.peek())) this.pos++;
      return this.emit('IDENTIFIER');
    }
    return this.error(`unexpected character inside braces: ${quoteRune(ch)}`);
  }

  private durationExpr(): void {
    const ch = this.nextChar();
    switch (ch) {
      case undefined: return this.error('unexpected end of input in duration expression');
      case ']':
        this.bracketOpen = false;
        this.gotColon = false;
        return this.emit('RIGHT_BRACKET');
      case ':':
        this.emit('COLON');
        if (!this.gotDuration) return this.error('unexpected colon before duration in duration expression');
        if (this.gotColon) return this.error('unexpected repeated colon in duration expression');
        this.gotColon = true;
        return;
      case '(':
        this.parenDepth++;
        return this.emit('LEFT_PAREN');
      case ')':
        this.emit('RIGHT_PAREN');
        this.parenDepth--;
        if (this.parenDepth < 0) return this.error(`unexpected right parenthesis ${quoteRune(')')}`);
        return;
      case ' ': case '\t': case '\n': case '\r': return this.skipSpaces();
      case '+': return this.emit('ADD');
      case '-': return this.emit('SUB');
      case '*': return this.emit('MUL');
      case '/': return this.emit('DIV');
      case '%': return this.emit('MOD');
      case '^': return this.emit('POW');
      case ',': return this.emit('COMMA');
    }
    if (isDigit(ch) || (ch === '.' && isDigit(this.peek()))) {
      this.pos = this.start;
      this.gotDuration = true;
      return this.numberOrDuration();
    }
    if (isAlpha(ch)) {
      while (isAlphaNumeric(this.peek())) this.pos++;
      const word = this.input.slice(this.start, this.pos).toLowerCase();
      if (word === 'step' || word === 'range') {
        this.gotDuration = true;
        return this.emit(word === 'step' ? 'STEP' : 'RANGE');
      }
      if (word === 'min_of' || word === 'max_of') {
        this.gotDuration = true;
        return this.emit('IDENTIFIER');
      }
      this.pos = this.start + ch.length;
    }
    return this.error(`unexpected character in duration expression: ${quoteRune(ch)}`);
  }

  /** A quoted string; the opening quote has been read. Escapes are validated like Go's scanner. */
  private string(quote: string): void {
    for (;;) {
      const ch = this.nextChar();
      if (ch === undefined || ch === '\n') return this.error('unterminated quoted string');
      if (ch === quote) return this.emit('STRING');
      if (ch === '\\') {
        const err = this.escape(quote);
        if (err) return this.error(err);
      } else if (ch.length === 1 && ch.charCodeAt(0) >= 0xd800 && ch.charCodeAt(0) <= 0xdfff) {
        return this.error('invalid UTF-8 rune');
      }
    }
  }

  private escape(quote: string): string | undefined {
    let ch = this.nextChar();
    let n: number;
    let base: number;
    let max: number;
    switch (ch) {
      case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
        return undefined;
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        n = 3; base = 8; max = 255;
        break;
      case 'x':
        ch = this.nextChar();
        n = 2; base = 16; max = 255;
        break;
      case 'u':
        ch = this.nextChar();
        n = 4; base = 16; max = 0x10ffff;
        break;
      case 'U':
        ch = this.nextChar();
        n = 8; base = 16; max = 0x10ffff;
        break;
      case undefined:
        return 'escape sequence not terminated';
      default:
        if (ch === quote) return undefined;
        return `unknown escape sequence ${goRuneU(ch)}`;
    }
    let x = 0;
    while (n > 0) {
      const d = ch === undefined ? 16 : digitVal(ch);
      if (d >= base) {
        if (ch === undefined) return 'escape sequence not terminated';
        return `illegal character ${goRuneU(ch)} in escape sequence`;
      }
      x = x * base + d;
      n--;
      if (n > 0) ch = this.nextChar();
    }
    if (x > max || (x >= 0xd800 && x < 0xe000)) return 'escape sequence is an invalid Unicode code point';
    return undefined;
  }

  private rawString(): void {
    for (;;) {
      const ch = this.nextChar();
      if (ch === undefined) return this.error('unterminated raw string');
      if (ch === '`') return this.emit('STRING');
    }
  }

  /** Prometheus' scanNumber: true when [start, pos) is a number token. */
  private scanNumber(): boolean {
    const initial = this.pos;
    const accept = (valid: string): boolean => {
      const c = this.peek();
      if (c !== undefined && valid.includes(c)) {
        this.pos++;
        return true;
      }
      return false;
    };
    const is = (valid: string): boolean => {
      const c = this.peek();
      return c !== undefined && valid.includes(c);
    };
    let digits = '0123456789';
    if (accept('0') && accept('xX')) {
      accept('_');
      digits = '0123456789abcdefABCDEF';
    }
    accept('.');
    accept(digits);
    let dot = false;
    let exp = false;
    while (is(digits + '._eE')) {
      if (is('.') && dot) {
        accept('.');
        return false;
      }
      if (is('eE') && exp && digits.length === 10) {
        accept('eE');
        return false;
      }
      if (accept('.')) {
        dot = true;
        if (accept('_.')) return false;
        if (digits.length > 10) return false;
        continue;
      }
      if (digits.length === 10 && accept('eE')) {
        exp = true;
        accept('+-');
        if (accept('._eE') || this.peek() === undefined) return false;
        continue;
      }
      if (accept('_')) {
        if (accept('._eE') || this.peek() === undefined) return false;
        continue;
      }
      while (is(digits)) this.pos++;
    }
    if (this.pos === initial) return false;
    return !isAlphaNumeric(this.peek());
  }

  private numberOrDuration(): void {
    if (this.scanNumber()) return this.emit('NUMBER');
    // A duration: the digits read so far followed by units (`5m`, `1h30m`, `500ms`).
    const acceptUnit = (units: string): boolean => {
      const c = this.peek();
      if (c !== undefined && units.includes(c)) {
        this.pos++;
        return true;
      }
      return false;
    };
    const rest = (): boolean => {
      if (!acceptUnit('smhdwy')) return false;
      acceptUnit('s');
      while (isDigit(this.peek())) {
        while (isDigit(this.peek())) this.pos++;
        if (!acceptUnit('smhdw')) return false;
        acceptUnit('s');
      }
      return !isAlphaNumeric(this.peek());
    };
    if (rest()) return this.emit('DURATION');
    // Prometheus reports the text consumed so far, including one extra character.
    if (this.pos < this.input.length) this.nextChar();
    return this.error(`bad number or duration syntax: ${goQuote(this.input.slice(this.start, this.pos))}`);
  }

  private keywordOrIdentifier(): void {
    while (isAlphaNumeric(this.peek()) || this.peek() === ':') this.pos++;
    const word = this.input.slice(this.start, this.pos);
    const kw = KEYWORDS[word.toLowerCase()];
    if (kw !== undefined) {
      if ((kw === 'FILL' || kw === 'FILL_LEFT' || kw === 'FILL_RIGHT') && !this.followedByLeftParen()) return this.emit('IDENTIFIER');
      return this.emit(kw);
    }
    const low = word.toLowerCase();
    if (low === 'inf' || low === 'nan') return this.emit('NUMBER');
    return this.emit(word.includes(':') ? 'METRIC_IDENTIFIER' : 'IDENTIFIER');
  }

  private followedByLeftParen(): boolean {
    let p = this.pos;
    while (p < this.input.length && isSpace(this.input[p])) p++;
    return this.input[p] === '(';
  }
}

function digitVal(ch: string): number {
  if (ch >= '0' && ch <= '9') return ch.charCodeAt(0) - 48;
  if (ch >= 'a' && ch <= 'f') return ch.charCodeAt(0) - 97 + 10;
  if (ch >= 'A' && ch <= 'F') return ch.charCodeAt(0) - 65 + 10;
  return 16;
}

/** Go's %#U: `U+0027 '''`. */
function goRuneU(ch: string): string {
  const c = ch.codePointAt(0)!;
  const hex = 'U+' + c.toString(16).toUpperCase().padStart(4, '0');
  if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) return hex;
  return `${hex} '${ch}'`;
}

/**
 * Unquotes a STRING token text as Prometheus' strutil.Unquote does. `\x` and octal escapes
 * produce bytes; byte sequences that are not valid UTF-8 are kept as surrogate escapes
 * (U+DC80..U+DCFF), which no valid label name contains.
 */
export function unquoteString(text: string): string {
  const q = text[0];
  const body = text.slice(1, -1);
  if (q === '`') return body;
  if (!body.includes('\\')) return body;
  const bytes: number[] = [];
  const pushString = (s: string): void => {
    for (const b of Buffer.from(s, 'utf8')) bytes.push(b);
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      pushString(ch);
      i += ch.length - 1;
      continue;
    }
    const e = body[++i]!;
    switch (e) {
      case 'a': bytes.push(7); break;
      case 'b': bytes.push(8); break;
      case 'f': bytes.push(12); break;
      case 'n': bytes.push(10); break;
      case 'r': bytes.push(13); break;
      case 't': bytes.push(9); break;
      case 'v': bytes.push(11); break;
      case '\\': bytes.push(92); break;
      case "'": bytes.push(39); break;
      case '"': bytes.push(34); break;
      case 'x':
        bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
        break;
      case 'u':
        pushString(String.fromCodePoint(parseInt(body.slice(i + 1, i + 5), 16)));
        i += 4;
        break;
      case 'U':
        pushString(String.fromCodePoint(parseInt(body.slice(i + 1, i + 9), 16)));
        i += 8;
        break;
      default:
        bytes.push(parseInt(body.slice(i, i + 3), 8));
        i += 2;
    }
  }
  return decodeUtf8Escaped(bytes);
}

/** Decodes UTF-8; each byte of an invalid sequence becomes U+DC00 + byte. */
export function decodeUtf8Escaped(bytes: readonly number[]): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need = 0;
    let cp = 0;
    let min = 0;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1; cp = b & 0x1f; min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2; cp = b & 0x0f; min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3; cp = b & 0x07; min = 0x10000;
    } else {
      out += String.fromCharCode(0xdc00 + b);
      i++;
      continue;
    }
    let ok = true;
    for (let j = 1; j <= need; j++) {
      const cb = bytes[i + j];
      if (cb === undefined || (cb & 0xc0) !== 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cb & 0x3f);
    }
    if (!ok || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      out += String.fromCharCode(0xdc00 + b);
      i++;
      continue;
    }
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}
