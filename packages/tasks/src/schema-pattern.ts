import { UnboundedSchemaError } from './schema-errors.js';
import type { SchemaLimits } from './schema-limits.js';

/** What a (sub)pattern can match, for the bounds: its longest match and its grammar size. */
interface Measure {
  length: number;
  cost: number;
  /** Holds an alternation or a variable-count quantifier (repeating it would be ambiguous). */
  ambiguous: boolean;
}

/** Escapes that mean the character itself in a JS RegExp (u flag) and in llama.cpp's converter. */
const ESCAPABLE = new Set('^$.[]()|{}*+?');
/** Escapes allowed inside a character class (llama.cpp passes these to its grammar as they are). */
const CLASS_ESCAPABLE = new Set('[]-');

class PatternParser {
  private i = 0;

  constructor(
    private readonly body: string,
    private readonly fail: (reason: string) => never,
    private readonly maxRepeat: number,
  ) {}

  parse(): Measure {
    const measure = this.alternation();
    if (this.i < this.body.length) this.fail(`has an unbalanced ")" at ${this.i + 1}`);
    return measure;
  }

  private alternation(): Measure {
    const branches = [this.sequence()];
    while (this.body[this.i] === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    if (branches.length === 1) return branches[0]!;
    return {
      length: Math.max(...branches.map((branch) => branch.length)),
      cost: branches.reduce((sum, branch) => sum + branch.cost, 1),
      ambiguous: true,
    };
  }

  private sequence(): Measure {
    const total: Measure = { length: 0, cost: 0, ambiguous: false };
    const start = this.i;
    while (this.i < this.body.length && this.body[this.i] !== '|' && this.body[this.i] !== ')') {
      const atom = this.quantified(this.atom());
      total.length += atom.length;
      total.cost += atom.cost;
      total.ambiguous ||= atom.ambiguous;
    }
    if (this.i === start) this.fail('has an empty alternative');
    return total;
  }

  private atom(): Measure {
    const c = this.body[this.i]!;
    const single: Measure = { length: 1, cost: 1, ambiguous: false };
    if (c === '(') {
      this.i++;
      if (this.body[this.i] === '?') {
        if (this.body[this.i + 1] !== ':') this.fail('uses a group llama.cpp cannot turn into a grammar (lookaround or named group); only ( ) and (?: ) are supported');
        this.i += 2;
      }
      const inner = this.alternation();
      if (this.body[this.i] !== ')') this.fail('has an unclosed "("');
      this.i++;
      return { ...inner, cost: inner.cost + 1 };
    }
    if (c === '[') return this.characterClass();
    if (c === '\\') {
      const next = this.body[this.i + 1];
      if (next === undefined || !ESCAPABLE.has(next)) this.fail(`uses the escape \\${next ?? ''}; only escaped special characters (${[...ESCAPABLE].join('')}) are supported: write classes like [0-9] instead of \\d`);
      this.i += 2;
      return single;
    }
    if (c === '^' || c === '$') this.fail('has an anchor inside the pattern; ^ may only start it and $ end it');
    if (c === '*' || c === '+' || c === '?' || c === '{') this.fail(`has nothing to repeat before "${c}"`);
    if (c === ']' || c === '}') this.fail(`has an unmatched "${c}"`);
    if (c === '"' || c < ' ') this.fail('has a quote or control character, which a JSON string cannot hold as it is');
    this.i++;
    return single;
  }

  private characterClass(): Measure {
    this.i++;
    if (this.body[this.i] === '^') this.i++;
    const start = this.i;
    while (this.i < this.body.length && this.body[this.i] !== ']') {
      const c = this.body[this.i]!;
      if (c === '\\') {
        const next = this.body[this.i + 1];
        if (next === undefined || !CLASS_ESCAPABLE.has(next)) this.fail(`uses the escape \\${next ?? ''} in a character class; only \\[ \\] \\- are supported there`);
        this.i += 2;
      } else {
        if (c === '"' || c < ' ') this.fail('has a quote or control character, which a JSON string cannot hold as it is');
        this.i++;
      }
    }
    if (this.i >= this.body.length) this.fail('has an unclosed "["');
    if (this.i === start) this.fail('has an empty character class');
    this.i++;
    return { length: 1, cost: 1, ambiguous: false };
  }

  private quantified(atom: Measure): Measure {
    const c = this.body[this.i];
    let min: number;
    let max: number;
    if (c === '?') {
      this.i++;
      [min, max] = [0, 1];
    } else if (c === '*' || c === '+') {
      this.fail(`repeats without a bound ("${c}"); use {0,N} or {1,N} with N at most ${this.maxRepeat}`);
    } else if (c === '{') {
      const match = /^\{(\d{1,4})(?:(,)(\d{1,4})?)?\}/.exec(this.body.slice(this.i));
      if (!match) this.fail('has a "{" that is not a repetition {N} or {N,M}');
      this.i += match[0].length;
      min = Number(match[1]);
      if (match[2] && match[3] === undefined) this.fail(`repeats without a bound ("${match[0]}"); give the most repetitions, at most ${this.maxRepeat}`);
      max = match[3] === undefined ? min : Number(match[3]);
      if (min > max) this.fail(`repeats at least ${min} and at most ${max} times`);
      if (max > this.maxRepeat) this.fail(`repeats up to ${max} times (at most ${this.maxRepeat})`);
    } else {
      return atom;
    }
    if (this.body[this.i] === '?' || this.body[this.i] === '*' || this.body[this.i] === '+' || this.body[this.i] === '{') this.fail('has a quantifier after a quantifier');
    if (max > 1 && atom.ambiguous) this.fail('repeats a group that holds an alternation or a variable repetition (ambiguous, and slow to match)');
    return { length: atom.length * max, cost: atom.cost * Math.max(1, max), ambiguous: atom.ambiguous || min !== max };
  }
}

/**
 * Checks a pattern against what every part of the fleet can use: a JS RegExp with the u flag
 * (Ajv's), llama.cpp's converter (anchored ^...$, no \d-style escapes or lookarounds; an
 * unanchored pattern is any string there, or an error in older builds), and bounded: no unbounded
 * repetition, a longest match within maxStringLength and a grammar within maxPatternCost.
 */
export function checkPattern(pattern: unknown, path: string, limits: SchemaLimits): void {
  const fail = (reason: string): never => {
    throw new UnboundedSchemaError(`${path} ${reason}`);
  };
  if (typeof pattern !== 'string') fail('must be a string');
  const text = pattern as string;
  if (text.length > limits.maxPatternLength) fail(`is ${text.length} characters long (at most ${limits.maxPatternLength})`);
  try {
    new RegExp(text, 'u');
  } catch (error) {
    fail(`is not a valid regular expression: ${(error as Error).message}`);
  }
  if (text.length < 2 || !text.startsWith('^') || !text.endsWith('$') || /(^|[^\\])(\\\\)*\\\$$/.test(text)) {
    fail('must be anchored: start with ^ and end with $ (llama.cpp cannot bound an unanchored pattern)');
  }
  const body = text.slice(1, -1);
  const topLevel = new PatternParser(body, fail, limits.maxStringLength);
  const measure = topLevel.parse();
  if (hasTopLevelAlternation(body)) fail('has an alternation outside a group; write ^(a|b)$');
  if (measure.length > limits.maxStringLength) fail(`can match ${measure.length} characters (at most ${limits.maxStringLength})`);
  if (measure.cost > limits.maxPatternCost) fail(`expands to ${measure.cost} grammar elements (at most ${limits.maxPatternCost})`);
}

function hasTopLevelAlternation(body: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}
