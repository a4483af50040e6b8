/**
 * Lexer and parser for Go's text/template language, producing a typed AST that the executor
 * walks. Parse errors carry Go's messages (`template: NAME:LINE: ...`).
 *
 * Positions are UTF-16 offsets into the source; error messages convert them to Go's byte
 * columns.
 */
import { TemplateParseError } from './errors.ts';

// ---- AST ------------------------------------------------------------------------------------

/** The text one Parse call read; nodes point at it for error locations. */
export interface Source {
  /** The name given to Parse (Go's ParseName): the file or top-level template name. */
  readonly parseName: string;
  readonly text: string;
}

interface Base {
  pos: number;
  src: Source;
}

export interface TextNode extends Base { type: 'text'; text: string }
export interface ActionNode extends Base { type: 'action'; line: number; pipe: PipeNode }
export interface IfNode extends Base { type: 'if'; line: number; pipe: PipeNode; list: ListNode; elseList: ListNode | null }
export interface WithNode extends Base { type: 'with'; line: number; pipe: PipeNode; list: ListNode; elseList: ListNode | null }
export interface RangeNode extends Base { type: 'range'; line: number; pipe: PipeNode; list: ListNode; elseList: ListNode | null }
export interface TemplateNode extends Base { type: 'template'; line: number; name: string; pipe: PipeNode | null }
export interface BreakNode extends Base { type: 'break'; line: number }
export interface ContinueNode extends Base { type: 'continue'; line: number }
export interface ListNode extends Base { type: 'list'; nodes: ItemNode[] }
export type ItemNode = TextNode | ActionNode | IfNode | WithNode | RangeNode | TemplateNode | BreakNode | ContinueNode;

export interface PipeNode extends Base { type: 'pipe'; line: number; isAssign: boolean; decl: VariableNode[]; cmds: CommandNode[] }
export interface CommandNode extends Base { type: 'command'; args: ArgNode[] }
export interface FieldNode extends Base { type: 'field'; ident: string[] }
export interface VariableNode extends Base { type: 'variable'; ident: string[] }
export interface ChainNode extends Base { type: 'chain'; node: ArgNode; field: string[] }
export interface IdentifierNode extends Base { type: 'identifier'; ident: string }
export interface DotNode extends Base { type: 'dot' }
export interface NilNode extends Base { type: 'nil' }
export interface BoolNode extends Base { type: 'bool'; value: boolean }
export interface StringNode extends Base { type: 'string'; quoted: string; text: string }
export interface NumberNode extends Base {
  type: 'number';
  text: string;
  isInt: boolean;
  isUint: boolean;
  isFloat: boolean;
  isComplex: boolean;
  int: bigint;
  float: number;
}
export type ArgNode = FieldNode | VariableNode | ChainNode | IdentifierNode | DotNode | NilNode | BoolNode | StringNode | NumberNode | PipeNode;

/** A parsed template: a name and its body. */
export interface Tree {
  name: string;
  parseName: string;
  root: ListNode;
  src: Source;
}

// ---- node text (Go's Node.String, used in error contexts) ------------------------------------

export function nodeString(n: ArgNode | CommandNode | ItemNode | ListNode): string {
  switch (n.type) {
    case 'text': return JSON.stringify(n.text);
    case 'field': return '.' + n.ident.join('.');
    case 'variable': return n.ident.join('.');
    case 'chain': {
      const inner = n.node.type === 'pipe' ? '(' + nodeString(n.node) + ')' : nodeString(n.node);
      return inner + '.' + n.field.join('.');
    }
    case 'identifier': return n.ident;
    case 'dot': return '.';
    case 'nil': return 'nil';
    case 'bool': return n.value ? 'true' : 'false';
    case 'string': return n.quoted;
    case 'number': return n.text;
    case 'command':
      return n.args.map((a) => (a.type === 'pipe' ? '(' + nodeString(a) + ')' : nodeString(a))).join(' ');
    case 'pipe': {
      let s = '';
      if (n.decl.length > 0) s = n.decl.map((v) => nodeString(v)).join(', ') + (n.isAssign ? ' = ' : ' := ');
      return s + n.cmds.map((c) => nodeString(c)).join(' | ');
    }
    case 'action': return '{{' + nodeString(n.pipe) + '}}';
    case 'if': case 'with': case 'range': {
      let s = '{{' + n.type + ' ' + nodeString(n.pipe) + '}}' + nodeString(n.list);
      if (n.elseList) s += '{{else}}' + nodeString(n.elseList);
      return s + '{{end}}';
    }
    case 'template':
      return '{{template ' + JSON.stringify(n.name) + (n.pipe ? ' ' + nodeString(n.pipe) : '') + '}}';
    case 'break': return '{{break}}';
    case 'continue': return '{{continue}}';
    case 'list': return n.nodes.map((x) => nodeString(x)).join('');
  }
}

/** Go's ErrorContext: `NAME:LINE:COL` (COL a 0-based byte offset on the line) and the node text. */
export function errorContext(n: Base & { type: string }): [string, string] {
  const text = n.src.text.slice(0, n.pos);
  const nl = text.lastIndexOf('\n');
  const col = Buffer.byteLength(nl < 0 ? text : text.slice(nl + 1), 'utf8');
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) line++;
  return [`${n.src.parseName}:${line}:${col}`, nodeString(n as ArgNode)];
}

// ---- lexer ----------------------------------------------------------------------------------

const enum T {
  Error, EOF, Text, LeftDelim, RightDelim, Space, Field, Variable, Identifier, String, RawString,
  CharConstant, Number, Complex, Bool, Nil, Dot, Pipe, LeftParen, RightParen, Assign, Declare, Char,
  // keywords (after Keyword)
  Keyword, Block, Break, Continue, Define, Else, End, If, Range, Template, With,
}

const KEYWORDS: Record<string, T> = {
  '.': T.Dot, block: T.Block, break: T.Break, continue: T.Continue, define: T.Define, else: T.Else,
  end: T.End, if: T.If, range: T.Range, nil: T.Nil, template: T.Template, with: T.With,
};

interface Item {
  typ: T;
  pos: number;
  val: string;
  line: number;
}

function itemString(i: Item): string {
  if (i.typ === T.EOF) return 'EOF';
  if (i.typ === T.Error) return i.val;
  if (i.typ > T.Keyword) return '<' + i.val + '>';
  if ([...i.val].length > 10) return goQuote([...i.val].slice(0, 10).join('')) + '...';
  return goQuote(i.val);
}

function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, '\\x$1');
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlnum = (c: string | undefined) => c !== undefined && (c === '_' || /[\p{L}\p{Nd}]/u.test(c));

class Lexer {
  items: Item[] = [];
  private pos = 0;
  private start = 0;
  private line = 1;
  private startLine = 1;
  private parenDepth = 0;
  private insideAction = false;

  constructor(private readonly input: string, private readonly leftDelim = '{{', private readonly rightDelim = '}}') {}

  private emit(typ: T): void {
    this.items.push({ typ, pos: this.start, val: this.input.slice(this.start, this.pos), line: this.startLine });
    this.start = this.pos;
    this.startLine = this.line;
  }

  /** Drops the pending input; newlines in it must already be counted (by `advance`). */
  private ignore(): void {
    this.start = this.pos;
    this.startLine = this.line;
  }

  private errorf(msg: string): false {
    this.items.push({ typ: T.Error, pos: this.start, val: msg, line: this.startLine });
    return false;
  }

  private advance(n: number): void {
    for (let i = 0; i < n; i++) if (this.input[this.pos + i] === '\n') this.line++;
    this.pos += n;
  }

  /** Lexes everything; stops at the first error (an Error item) or EOF. */
  run(): Item[] {
    for (;;) {
      const ok = this.insideAction ? this.lexInsideAction() : this.lexText();
      if (!ok) return this.items;
    }
  }

  private hasLeftTrim(at: number): boolean {
    return this.input[at] === '-' && isSpace(this.input[at + 1]);
  }

  private lexText(): boolean {
    const x = this.input.indexOf(this.leftDelim, this.pos);
    if (x < 0) {
      this.pos = this.input.length;
      if (this.pos > this.start) {
        this.emitText(this.input.slice(this.start, this.pos));
      }
      this.items.push({ typ: T.EOF, pos: this.pos, val: '', line: this.line });
      return false;
    }
    let textEnd = x;
    const afterDelim = x + this.leftDelim.length;
    const trim = this.hasLeftTrim(afterDelim);
    let text = this.input.slice(this.start, x);
    if (trim) text = text.replace(/[ \t\r\n]+$/, '');
    textEnd = this.start + text.length;
    if (text.length > 0) {
      this.pos = textEnd;
      this.emitText(text);
    }
    this.advanceLinesFrom(this.pos, x);
    this.pos = x;
    this.ignore();
    return this.lexLeftDelim();
  }

  private emitText(text: string): void {
    this.items.push({ typ: T.Text, pos: this.start, val: text, line: this.startLine });
    this.advanceLinesFrom(this.start, this.pos);
    this.start = this.pos;
    this.startLine = this.line;
  }

  private advanceLinesFrom(a: number, b: number): void {
    for (let i = a; i < b; i++) if (this.input[i] === '\n') this.line++;
  }

  private lexLeftDelim(): boolean {
    this.pos += this.leftDelim.length;
    const trim = this.hasLeftTrim(this.pos);
    const afterMarker = trim ? 2 : 0;
    if (this.input.startsWith('/*', this.pos + afterMarker)) {
      this.advance(afterMarker);
      this.ignore();
      return this.lexComment();
    }
    this.emit(T.LeftDelim);
    this.advance(afterMarker);
    this.ignore();
    this.parenDepth = 0;
    this.insideAction = true;
    return true;
  }

  private atRightDelim(): [boolean, boolean] {
    if (isSpace(this.input[this.pos]) && this.input[this.pos + 1] === '-' && this.input.startsWith(this.rightDelim, this.pos + 2)) return [true, true];
    if (this.input.startsWith(this.rightDelim, this.pos)) return [true, false];
    return [false, false];
  }

  private lexComment(): boolean {
    this.pos += 2;
    const x = this.input.indexOf('*/', this.pos);
    if (x < 0) return this.errorf('unclosed comment');
    this.advance(x + 2 - this.pos);
    const [delim, trim] = this.atRightDelim();
    if (!delim) return this.errorf('comment ends before closing delimiter');
    this.advance((trim ? 2 : 0) + this.rightDelim.length);
    this.ignore();
    if (trim) this.trimFollowing();
    return true;
  }

  private trimFollowing(): void {
    while (isSpace(this.input[this.pos])) this.advance(1);
    this.ignore();
  }

  private lexRightDelim(trim: boolean): boolean {
    if (trim) {
      this.advance(2);
      this.ignore();
    }
    this.pos += this.rightDelim.length;
    this.emit(T.RightDelim);
    if (trim) this.trimFollowing();
    this.insideAction = false;
    return true;
  }

  private lexInsideAction(): boolean {
    const [delim, trim] = this.atRightDelim();
    if (delim) {
      if (this.parenDepth === 0) return this.lexRightDelim(trim);
      return this.errorf('unclosed left paren');
    }
    const c = this.input[this.pos];
    if (c === undefined) return this.errorf('unclosed action');
    if (isSpace(c)) {
      while (isSpace(this.input[this.pos])) {
        const [d] = this.atRightDelim();
        if (d) break;
        this.advance(1);
      }
      this.emit(T.Space);
      return true;
    }
    this.pos++;
    switch (c) {
      case '=': this.emit(T.Assign); return true;
      case ':':
        if (this.input[this.pos] !== '=') return this.errorf('expected :=');
        this.pos++;
        this.emit(T.Declare);
        return true;
      case '|': this.emit(T.Pipe); return true;
      case '"': return this.lexQuote();
      case '`': return this.lexRawQuote();
      case '$': return this.lexVariable();
      case "'": return this.lexChar();
      case '.':
        if (this.pos < this.input.length && this.input[this.pos]! >= '0' && this.input[this.pos]! <= '9') {
          this.pos--;
          return this.lexNumber();
        }
        return this.lexField();
      case '(':
        this.emit(T.LeftParen);
        this.parenDepth++;
        return true;
      case ')':
        this.emit(T.RightParen);
        this.parenDepth--;
        if (this.parenDepth < 0) return this.errorf('unexpected right paren');
        return true;
    }
    if (c === '+' || c === '-' || (c >= '0' && c <= '9')) {
      this.pos--;
      return this.lexNumber();
    }
    if (isAlnum(c)) {
      this.pos--;
      return this.lexIdentifier();
    }
    const cp = c.codePointAt(0)!;
    if (cp >= 0x20 && cp < 0x7f) {
      this.emit(T.Char);
      return true;
    }
    const full = this.input.codePointAt(this.pos - 1)!;
    return this.errorf(`unrecognized character in action: U+${full.toString(16).toUpperCase().padStart(4, '0')}${full >= 0x20 ? " '" + String.fromCodePoint(full) + "'" : ''}`);
  }

  private atTerminator(): boolean {
    const c = this.input[this.pos];
    if (c === undefined || isSpace(c)) return true;
    if (c === '.' || c === ',' || c === '|' || c === ':' || c === ')' || c === '(') return true;
    return this.input.startsWith(this.rightDelim, this.pos);
  }

  private badChar(): boolean {
    const cp = this.input.codePointAt(this.pos)!;
    return this.errorf(`bad character U+${cp.toString(16).toUpperCase().padStart(4, '0')} '${String.fromCodePoint(cp)}'`);
  }

  private lexIdentifier(): boolean {
    while (isAlnum(this.input[this.pos])) this.pos++;
    if (!this.atTerminator()) return this.badChar();
    const word = this.input.slice(this.start, this.pos);
    const kw = KEYWORDS[word];
    if (kw !== undefined && kw > T.Keyword) this.emit(kw);
    else if (word === 'nil') this.emit(T.Nil);
    else if (word === 'true' || word === 'false') this.emit(T.Bool);
    else this.emit(T.Identifier);
    return true;
  }

  private lexField(): boolean {
    // The '.' is consumed.
    if (this.atTerminator()) {
      this.emit(T.Dot);
      return true;
    }
    while (isAlnum(this.input[this.pos])) this.pos++;
    if (!this.atTerminator()) return this.badChar();
    this.emit(T.Field);
    return true;
  }

  private lexVariable(): boolean {
    if (this.atTerminator()) {
      this.emit(T.Variable);
      return true;
    }
    while (isAlnum(this.input[this.pos])) this.pos++;
    if (!this.atTerminator()) return this.badChar();
    this.emit(T.Variable);
    return true;
  }

  private lexChar(): boolean {
    for (;;) {
      const c = this.input[this.pos++];
      if (c === '\\') {
        if (this.pos < this.input.length && this.input[this.pos] !== '\n') {
          this.pos++;
          continue;
        }
        return this.errorf('unterminated character constant');
      }
      if (c === undefined || c === '\n') return this.errorf('unterminated character constant');
      if (c === "'") break;
    }
    this.emit(T.CharConstant);
    return true;
  }

  private lexQuote(): boolean {
    for (;;) {
      const c = this.input[this.pos++];
      if (c === '\\') {
        if (this.pos < this.input.length && this.input[this.pos] !== '\n') {
          this.pos++;
          continue;
        }
        return this.errorf('unterminated quoted string');
      }
      if (c === undefined || c === '\n') return this.errorf('unterminated quoted string');
      if (c === '"') break;
    }
    this.emit(T.String);
    return true;
  }

  private lexRawQuote(): boolean {
    const x = this.input.indexOf('`', this.pos);
    if (x < 0) return this.errorf('unterminated raw quoted string');
    this.advance(x + 1 - this.pos);
    this.emit(T.RawString);
    return true;
  }

  private scanNumber(): boolean {
    const s = this.input;
    if (s[this.pos] === '+' || s[this.pos] === '-') this.pos++;
    let digits = '0123456789_';
    if (s[this.pos] === '0' && /[xXoObB]/.test(s[this.pos + 1] ?? '')) {
      const b = s[this.pos + 1]!.toLowerCase();
      this.pos += 2;
      digits = b === 'x' ? '0123456789abcdefABCDEF_' : b === 'o' ? '01234567_' : '01_';
    }
    while (this.pos < s.length && digits.includes(s[this.pos]!)) this.pos++;
    if (s[this.pos] === '.') {
      this.pos++;
      while (this.pos < s.length && digits.includes(s[this.pos]!)) this.pos++;
    }
    if (digits.length === 11 && (s[this.pos] === 'e' || s[this.pos] === 'E')) {
      this.pos++;
      if (s[this.pos] === '+' || s[this.pos] === '-') this.pos++;
      while (this.pos < s.length && '0123456789_'.includes(s[this.pos]!)) this.pos++;
    }
    if (digits.length === 23 && (s[this.pos] === 'p' || s[this.pos] === 'P')) {
      this.pos++;
      if (s[this.pos] === '+' || s[this.pos] === '-') this.pos++;
      while (this.pos < s.length && '0123456789_'.includes(s[this.pos]!)) this.pos++;
    }
    if (s[this.pos] === 'i') this.pos++;
    if (isAlnum(s[this.pos])) {
      this.pos++;
      return false;
    }
    return true;
  }

  private lexNumber(): boolean {
    if (!this.scanNumber()) return this.errorf(`bad number syntax: ${goQuote(this.input.slice(this.start, this.pos))}`);
    const sign = this.input[this.start];
    if ((sign === '+' || sign === '-') && this.input[this.pos] === 'i') {
      // complex: not supported beyond lexing
    }
    if (this.input[this.pos - 1] === 'i') this.emit(T.Complex);
    else this.emit(T.Number);
    return true;
  }
}

// ---- numbers and strings --------------------------------------------------------------------

function parseGoInt(text: string): bigint | undefined {
  let s = text;
  let neg = false;
  if (s[0] === '+' || s[0] === '-') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let base = 10;
  let body = s;
  const hasPrefix = /^0[xXoObB]/.test(s);
  if (hasPrefix) {
    const b = s[1]!.toLowerCase();
    base = b === 'x' ? 16 : b === 'o' ? 8 : 2;
    body = s.slice(2);
  } else if (s.length > 1 && s[0] === '0') {
    base = 8;
    body = s.slice(1);
  }
  if (body.includes('_')) {
    // Underscores must separate digits (or follow a base prefix).
    if (!/^_?[0-9a-fA-F]+(_[0-9a-fA-F]+)*$/.test(body) || (body.startsWith('_') && !hasPrefix && base !== 8)) return undefined;
    body = body.replace(/_/g, '');
  }
  const re = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : base === 2 ? /^[01]+$/ : /^[0-9]+$/;
  if (!re.test(body)) return undefined;
  const prefix = base === 16 ? '0x' : base === 8 ? '0o' : base === 2 ? '0b' : '';
  const v = BigInt(prefix + body);
  return neg ? -v : v;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

function parseGoFloat(text: string): number | undefined {
  let s = text.replace(/_/g, '');
  if (/^[+-]?0[xX]/.test(text)) {
    const m = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(s);
    if (!m) return undefined;
    const mant = parseInt((m[2] || '0') + (m[3] || ''), 16) / 16 ** (m[3]?.length ?? 0);
    const v = mant * 2 ** Number(m[4]);
    return m[1] === '-' ? -v : v;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/** Go's strconv.Unquote for a char constant; returns the code point. */
function unquoteChar(text: string): number | undefined {
  const inner = text.slice(1, -1);
  if (inner.length === 0) return undefined;
  if (inner[0] !== '\\') {
    const cps = [...inner];
    return cps.length === 1 ? cps[0]!.codePointAt(0) : undefined;
  }
  const r = unescape(inner, 0, "'");
  return r && r.next === inner.length ? r.cp : undefined;
}

function unescape(s: string, i: number, quote: string): { cp: number; next: number } | undefined {
  // s[i] is a backslash.
  const c = s[i + 1];
  const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };
  if (c === undefined) return undefined;
  if (simple[c] !== undefined) return { cp: simple[c]!, next: i + 2 };
  if (c === quote) return { cp: c.charCodeAt(0), next: i + 2 };
  if (c === 'x' || c === 'u' || c === 'U') {
    const n = c === 'x' ? 2 : c === 'u' ? 4 : 8;
    const hex = s.slice(i + 2, i + 2 + n);
    if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
    const cp = parseInt(hex, 16);
    if (c !== 'x' && (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) return undefined;
    return { cp, next: i + 2 + n };
  }
  if (c >= '0' && c <= '7') {
    const oct = s.slice(i + 1, i + 4);
    if (!/^[0-7]{3}$/.test(oct)) return undefined;
    const cp = parseInt(oct, 8);
    if (cp > 255) return undefined;
    return { cp, next: i + 4 };
  }
  return undefined;
}

/** strconv.Unquote for "..." and `...` strings; undefined when invalid. */
function unquoteString(text: string): string | undefined {
  if (text[0] === '`') return text.slice(1, -1).replace(/\r/g, '');
  const inner = text.slice(1, -1);
  if (!inner.includes('\\')) return inner;
  let out = '';
  const bytes: number[] = [];
  const flush = () => {
    if (bytes.length) {
      out += Buffer.from(bytes).toString('utf8');
      bytes.length = 0;
    }
  };
  for (let i = 0; i < inner.length;) {
    if (inner[i] !== '\\') {
      flush();
      out += inner[i];
      i++;
      continue;
    }
    const r = unescape(inner, i, '"');
    if (!r) return undefined;
    const c = inner[i + 1]!;
    if (c === 'x' || (c >= '0' && c <= '7')) bytes.push(r.cp);
    else {
      flush();
      out += String.fromCodePoint(r.cp);
    }
    i = r.next;
  }
  flush();
  return out;
}

// ---- parser ---------------------------------------------------------------------------------

/** Functions the parser accepts as identifiers. */
export type FuncChecker = (name: string) => boolean;

class ParseFail extends Error {}

interface EndMarker { type: 'end'; pos: number }
interface ElseMarker { type: 'else'; pos: number; line: number }

class Parser {
  private items: Item[] = [];
  private idx = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;
  private actionLine = 0;
  private lastLine = 1;
  private readonly src: Source;
  readonly trees = new Map<string, Tree>();
  private treeName: string;

  constructor(
    private readonly parseName: string,
    text: string,
    private readonly hasFunc: FuncChecker,
    leftDelim?: string,
    rightDelim?: string,
  ) {
    this.src = { parseName, text };
    this.items = new Lexer(text, leftDelim, rightDelim).run();
    this.treeName = parseName;
  }

  private errorf(msg: string): never {
    throw new TemplateParseError(this.parseName, this.lastLine, msg);
  }

  private next(): Item {
    const it = this.items[this.idx] ?? this.items[this.items.length - 1]!;
    if (this.idx < this.items.length) this.idx++;
    this.lastLine = it.line;
    if (it.typ === T.Error) this.lexError(it);
    return it;
  }

  private lexError(it: Item): never {
    let extra = '';
    if (this.actionLine !== 0 && this.actionLine !== it.line) {
      extra = ` in action started at ${this.parseName}:${this.actionLine}`;
      if (it.val.endsWith(' action')) extra = extra.slice(' in action'.length);
    }
    this.errorf(it.val + extra);
  }

  private backup(n = 1): void {
    this.idx -= n;
  }

  private peek(): Item {
    return this.items[this.idx] ?? this.items[this.items.length - 1]!;
  }

  private nextNonSpace(): Item {
    let it: Item;
    do it = this.next();
    while (it.typ === T.Space);
    return it;
  }

  private peekNonSpace(): Item {
    const it = this.nextNonSpace();
    this.backup();
    return it;
  }

  private expect(typ: T, context: string): Item {
    const it = this.nextNonSpace();
    if (it.typ !== typ) this.unexpected(it, context);
    return it;
  }

  private unexpected(it: Item, context: string): never {
    if (it.typ === T.Error) this.lexError(it);
    this.errorf(`unexpected ${itemString(it)} in ${context}`);
  }

  /** Parses the whole text; returns the trees it defines (the top-level one under parseName). */
  parse(): Map<string, Tree> {
    const root: ListNode = { type: 'list', pos: 0, src: this.src, nodes: [] };
    while (this.peek().typ !== T.EOF) {
      if (this.peek().typ === T.LeftDelim) {
        const saved = this.idx;
        this.next();
        if (this.nextNonSpace().typ === T.Define) {
          this.parseDefinition();
          continue;
        }
        this.idx = saved;
      }
      const n = this.textOrAction();
      if (n.type === 'end' || n.type === 'else') this.errorf(`unexpected ${n.type === 'end' ? '{{end}}' : '{{else}}'}`);
      root.nodes.push(n);
    }
    this.addTree({ name: this.parseName, parseName: this.parseName, root, src: this.src });
    return this.trees;
  }

  private addTree(tree: Tree): void {
    const old = this.trees.get(tree.name);
    if (!old || isEmptyTree(old.root)) {
      this.trees.set(tree.name, tree);
      return;
    }
    if (!isEmptyTree(tree.root)) this.errorf(`template: multiple definition of template ${goQuote(tree.name)}`);
  }

  private parseDefinition(): void {
    const context = 'define clause';
    const nameTok = this.nextNonSpace();
    if (nameTok.typ !== T.String && nameTok.typ !== T.RawString) this.unexpected(nameTok, context);
    const name = unquoteString(nameTok.val);
    if (name === undefined) this.errorf('invalid syntax');
    this.expect(T.RightDelim, context);
    const savedVars = this.vars;
    const savedRange = this.rangeDepth;
    this.vars = ['$'];
    this.rangeDepth = 0;
    const [list, end] = this.itemList();
    if (end.type !== 'end') this.errorf(`unexpected {{else}} in ${context}`);
    this.vars = savedVars;
    this.rangeDepth = savedRange;
    this.addTree({ name, parseName: this.parseName, root: list, src: this.src });
  }

  private itemList(): [ListNode, EndMarker | ElseMarker] {
    const list: ListNode = { type: 'list', pos: this.peekNonSpace().pos, src: this.src, nodes: [] };
    while (this.peekNonSpace().typ !== T.EOF) {
      const n = this.textOrAction();
      if (n.type === 'end' || n.type === 'else') return [list, n];
      list.nodes.push(n);
    }
    this.errorf('unexpected EOF');
  }

  private textOrAction(): ItemNode | EndMarker | ElseMarker {
    const it = this.nextNonSpace();
    switch (it.typ) {
      case T.Text:
        return { type: 'text', pos: it.pos, src: this.src, text: it.val };
      case T.LeftDelim: {
        this.actionLine = it.line;
        try {
          return this.action();
        } finally {
          this.actionLine = 0;
        }
      }
      default:
        this.unexpected(it, 'input');
    }
  }

  private action(): ItemNode | EndMarker | ElseMarker {
    const it = this.nextNonSpace();
    switch (it.typ) {
      case T.Block: return this.blockControl();
      case T.Break: return this.breakControl(it, 'break');
      case T.Continue: return this.breakControl(it, 'continue');
      case T.Else: return this.elseControl();
      case T.End: return this.endControl();
      case T.If: return this.control('if', it);
      case T.Range: return this.control('range', it);
      case T.Template: return this.templateControl();
      case T.With: return this.control('with', it);
    }
    this.backup();
    const tok = this.peek();
    const pipe = this.pipeline('command', T.RightDelim);
    return { type: 'action', pos: tok.pos, src: this.src, line: tok.line, pipe };
  }

  private breakControl(it: Item, kind: 'break' | 'continue'): BreakNode | ContinueNode {
    const tok = this.nextNonSpace();
    if (tok.typ !== T.RightDelim) this.unexpected(tok, `{{${kind}}}`);
    if (this.rangeDepth === 0) this.errorf(`{{${kind}}} outside {{range}}`);
    return { type: kind, pos: it.pos, src: this.src, line: it.line } as BreakNode | ContinueNode;
  }

  private elseControl(): ElseMarker {
    const peek = this.peekNonSpace();
    if (peek.typ === T.If || peek.typ === T.With) return { type: 'else', pos: peek.pos, line: peek.line };
    const tok = this.expect(T.RightDelim, 'else');
    return { type: 'else', pos: tok.pos, line: tok.line };
  }

  private endControl(): EndMarker {
    return { type: 'end', pos: this.expect(T.RightDelim, 'end').pos };
  }

  private control(kind: 'if' | 'with' | 'range', tok: Item): IfNode | WithNode | RangeNode {
    const nvars = this.vars.length;
    try {
      const pipe = this.pipeline(kind, T.RightDelim);
      if (kind === 'range') this.rangeDepth++;
      let list: ListNode;
      let next: EndMarker | ElseMarker;
      try {
        [list, next] = this.itemList();
      } finally {
        if (kind === 'range') this.rangeDepth--;
      }
      let elseList: ListNode | null = null;
      if (next.type === 'else') {
        const p = this.peek();
        if ((kind === 'if' && p.typ === T.If) || (kind === 'with' && p.typ === T.With)) {
          const t = this.next();
          elseList = { type: 'list', pos: next.pos, src: this.src, nodes: [this.control(kind, t)] };
        } else {
          let end: EndMarker | ElseMarker;
          [elseList, end] = this.itemList();
          if (end.type !== 'end') this.errorf('expected end; found {{else}}');
        }
      }
      return { type: kind, pos: pipe.pos, src: this.src, line: pipe.line, pipe, list, elseList } as IfNode | WithNode | RangeNode;
    } finally {
      this.vars.length = nvars;
    }
  }

  private templateName(tok: Item, context: string): string {
    if (tok.typ !== T.String && tok.typ !== T.RawString) this.unexpected(tok, context);
    const s = unquoteString(tok.val);
    if (s === undefined) this.errorf('invalid syntax');
    return s;
  }

  private templateControl(): TemplateNode {
    const context = 'template clause';
    const tok = this.nextNonSpace();
    const name = this.templateName(tok, context);
    let pipe: PipeNode | null = null;
    if (this.nextNonSpace().typ !== T.RightDelim) {
      this.backup();
      pipe = this.pipeline(context, T.RightDelim);
    }
    return { type: 'template', pos: tok.pos, src: this.src, line: tok.line, name, pipe };
  }

  private blockControl(): TemplateNode {
    const context = 'block clause';
    const tok = this.nextNonSpace();
    const name = this.templateName(tok, context);
    const pipe = this.pipeline(context, T.RightDelim);
    const savedVars = this.vars;
    const savedRange = this.rangeDepth;
    this.vars = ['$'];
    this.rangeDepth = 0;
    const [list, end] = this.itemList();
    if (end.type !== 'end') this.errorf(`unexpected {{else}} in ${context}`);
    this.vars = savedVars;
    this.rangeDepth = savedRange;
    this.addTree({ name, parseName: this.parseName, root: list, src: this.src });
    return { type: 'template', pos: tok.pos, src: this.src, line: tok.line, name, pipe };
  }

  private pipeline(context: string, end: T): PipeNode {
    const first = this.peekNonSpace();
    const pipe: PipeNode = { type: 'pipe', pos: first.pos, src: this.src, line: first.line, isAssign: false, decl: [], cmds: [] };
    decls: for (;;) {
      const v = this.peekNonSpace();
      if (v.typ !== T.Variable) break;
      const startIdx = this.idx;
      this.nextNonSpace();
      const afterVar = this.peek();
      const nxt = this.peekNonSpace();
      if (nxt.typ === T.Assign || nxt.typ === T.Declare) {
        pipe.isAssign = nxt.typ === T.Assign;
        this.nextNonSpace();
        pipe.decl.push({ type: 'variable', pos: v.pos, src: this.src, ident: [v.val] });
        if (!pipe.isAssign) this.vars.push(v.val);
        else if (!this.vars.includes(v.val)) this.errorf(`undefined variable ${goQuote(v.val)}`);
        break;
      }
      if (nxt.typ === T.Char && nxt.val === ',') {
        this.nextNonSpace();
        pipe.decl.push({ type: 'variable', pos: v.pos, src: this.src, ident: [v.val] });
        this.vars.push(v.val);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace();
          if (p.typ === T.Variable || p.typ === T.RightDelim || p.typ === T.RightParen) continue decls;
          this.errorf('range can only initialize variables');
        }
        this.errorf(`too many declarations in ${context}`);
      }
      void afterVar;
      this.idx = startIdx;
      break;
    }
    for (;;) {
      const tok = this.nextNonSpace();
      if (tok.typ === end) {
        this.checkPipeline(pipe, context);
        return pipe;
      }
      switch (tok.typ) {
        case T.Bool: case T.CharConstant: case T.Complex: case T.Dot: case T.Field: case T.Identifier:
        case T.Number: case T.Nil: case T.RawString: case T.String: case T.Variable: case T.LeftParen:
          this.backup();
          pipe.cmds.push(this.command());
          break;
        default:
          this.unexpected(tok, context);
      }
    }
  }

  private checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
    for (let i = 1; i < pipe.cmds.length; i++) {
      const t = pipe.cmds[i]!.args[0]!.type;
      if (t === 'bool' || t === 'dot' || t === 'nil' || t === 'number' || t === 'string') {
        this.errorf(`non executable command in pipeline stage ${i + 1}`);
      }
    }
  }

  private command(): CommandNode {
    const cmd: CommandNode = { type: 'command', pos: this.peekNonSpace().pos, src: this.src, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const tok = this.next();
      if (tok.typ === T.Space) continue;
      if (tok.typ === T.RightDelim || tok.typ === T.RightParen) this.backup();
      else if (tok.typ !== T.Pipe) this.unexpected(tok, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.errorf('empty command');
    return cmd;
  }

  private operand(): ArgNode | null {
    const node = this.term();
    if (!node) return null;
    if (this.peek().typ === T.Field) {
      const chainPos = this.peek().pos;
      const fields: string[] = [];
      while (this.peek().typ === T.Field) fields.push(this.next().val.slice(1));
      switch (node.type) {
        case 'field':
          return { type: 'field', pos: chainPos, src: this.src, ident: [...node.ident, ...fields] };
        case 'variable':
          return { type: 'variable', pos: chainPos, src: this.src, ident: [...node.ident, ...fields] };
        case 'bool': case 'string': case 'number': case 'nil': case 'dot':
          this.errorf(`unexpected . after term ${goQuote(nodeString(node))}`);
      }
      return { type: 'chain', pos: chainPos, src: this.src, node, field: fields };
    }
    return node;
  }

  private term(): ArgNode | null {
    const tok = this.nextNonSpace();
    switch (tok.typ) {
      case T.Identifier:
        if (!this.hasFunc(tok.val)) this.errorf(`function ${goQuote(tok.val)} not defined`);
        return { type: 'identifier', pos: tok.pos, src: this.src, ident: tok.val };
      case T.Dot:
        return { type: 'dot', pos: tok.pos, src: this.src };
      case T.Nil:
        return { type: 'nil', pos: tok.pos, src: this.src };
      case T.Variable: {
        const name = tok.val.split('.')[0]!;
        if (!this.vars.includes(name)) this.errorf(`undefined variable ${goQuote(name)}`);
        return { type: 'variable', pos: tok.pos, src: this.src, ident: [tok.val] };
      }
      case T.Field:
        return { type: 'field', pos: tok.pos, src: this.src, ident: [tok.val.slice(1)] };
      case T.Bool:
        return { type: 'bool', pos: tok.pos, src: this.src, value: tok.val === 'true' };
      case T.CharConstant: case T.Complex: case T.Number:
        return this.number(tok);
      case T.LeftParen:
        return this.pipeline('parenthesized pipeline', T.RightParen);
      case T.String: case T.RawString: {
        const s = unquoteString(tok.val);
        if (s === undefined) this.errorf('invalid syntax');
        return { type: 'string', pos: tok.pos, src: this.src, quoted: tok.val, text: s };
      }
    }
    this.backup();
    return null;
  }

  private number(tok: Item): NumberNode {
    const n: NumberNode = { type: 'number', pos: tok.pos, src: this.src, text: tok.val, isInt: false, isUint: false, isFloat: false, isComplex: false, int: 0n, float: 0 };
    const text = tok.val;
    if (tok.typ === T.CharConstant) {
      const cp = unquoteChar(text);
      if (cp === undefined) this.errorf(`malformed character constant: ${text}`);
      n.int = BigInt(cp);
      n.isInt = n.isUint = n.isFloat = true;
      n.float = cp;
      return n;
    }
    if (tok.typ === T.Complex) {
      this.errorf(`complex constants are not supported: ${goQuote(text)}`);
    }
    const iv = parseGoInt(text);
    if (iv !== undefined) {
      if (iv >= 0n && iv <= UINT64_MAX) n.isUint = true;
      if (iv >= INT64_MIN && iv <= INT64_MAX) {
        n.isInt = true;
        n.int = iv;
      }
      if (n.isInt || n.isUint) {
        n.isFloat = true;
        n.float = Number(iv);
        return n;
      }
    }
    const fv = parseGoFloat(text);
    if (fv !== undefined && Number.isFinite(fv)) {
      if (!/[.eEpP]/.test(text)) this.errorf(`integer overflow: ${goQuote(text)}`);
      n.isFloat = true;
      n.float = fv;
      if (Number.isInteger(fv) && Math.abs(fv) < 9.223372036854776e18) {
        n.isInt = true;
        n.int = BigInt(fv);
        if (fv >= 0) n.isUint = true;
      }
      return n;
    }
    if (iv !== undefined && !/[.eEpP]/.test(text)) this.errorf(`integer overflow: ${goQuote(text)}`);
    this.errorf(`illegal number syntax: ${goQuote(text)}`);
  }
}

/** Go's IsEmptyTree: only whitespace text (and nothing else). */
export function isEmptyTree(list: ListNode): boolean {
  for (const n of list.nodes) {
    if (n.type !== 'text' || n.text.trim() !== '') return false;
  }
  return true;
}

export interface ParseOptions {
  leftDelim?: string;
  rightDelim?: string;
}

/**
 * Parses `text` under the name `name`. Returns every tree it defines: the top-level body under
 * `name` and one per `{{define}}`/`{{block}}`. Throws TemplateParseError.
 */
export function parseTrees(name: string, text: string, hasFunc: FuncChecker, opts: ParseOptions = {}): Map<string, Tree> {
  const p = new Parser(name, text, hasFunc, opts.leftDelim, opts.rightDelim);
  try {
    return p.parse();
  } catch (e) {
    if (e instanceof ParseFail) throw new TemplateParseError(name, 0, e.message);
    throw e;
  }
}
