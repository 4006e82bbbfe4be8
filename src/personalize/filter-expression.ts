import type { CatalogItem } from '../store/types.js';

/**
 * Amazon Personalize's filter expressions, for item filters
 * (https://docs.aws.amazon.com/personalize/latest/dg/filter-expressions.html).
 *
 * Supported:
 * - `INCLUDE ItemID WHERE ...` and `EXCLUDE ItemID WHERE ...`, chained with `|`, combined as
 *   Personalize documents: an item passes when no INCLUDE expression is given or at least one
 *   matches it (`Include A | Include B` is the union), and no EXCLUDE expression matches it;
 *   order does not matter.
 * - `Items.<FIELD>` conditions: `IN (...)`, `NOT IN (...)`, `=`, `<`, `>`, `<=`, `>=`. Fields,
 *   case-insensitive: ITEM_ID -> itemId; TITLE -> title; CATEGORY, CATEGORY_L1, CATEGORIES,
 *   GENRE, GENRES -> category; PRICE -> price; IN_STOCK -> inStock. Strings match exactly (case
 *   matters); PRICE takes numbers and is the only field `<`, `>`, `<=`, `>=` apply to; IN_STOCK
 *   takes "true"/"false" (any case) or 1/0.
 * - `Interactions.EVENT_TYPE IN (...)` / `NOT IN (...)`: the user had an interaction with the item
 *   whose event type is (is not) in the list; event types match ignoring case and "*" is every
 *   type. An expression's conditions are all on Items or all on Interactions (as in Personalize).
 * - AND binds tighter than OR; parentheses group. Values: "JSON-style strings", numbers, and
 *   `$PARAM` placeholders (a list inside IN / NOT IN, one value in a comparison).
 * - filterValues as Personalize takes them: `{ GENRES: '"Comedy","Drama"', PRICE: '10' }`. Every
 *   parameter of an INCLUDE expression must have a value; an EXCLUDE expression with a parameter
 *   left out is not applied ("Amazon Personalize doesn't use that portion of the expression").
 *   Values for parameters the filter does not use are ignored.
 * - Limits: 2,500 characters per filter, 100 values per list (after binding), 1,000 characters
 *   per filter value, parameter names of at most 50 of `[A-Za-z0-9_]`.
 *
 * Not supported (each a FilterExpressionError): UserID / ActionID filters, the Users and Actions
 * datasets, `IF CurrentUser...`, `CurrentItem.<FIELD>`, item fields other than the above, `!=`.
 * Unlike Personalize, placeholders are accepted in expressions that use NOT IN, and the limit on
 * distinct fields per filter is not checked (Attune's items have five).
 */

export const MAX_EXPRESSION_LENGTH = 2500;
export const MAX_LIST_VALUES = 100;
export const MAX_FILTER_VALUE_LENGTH = 1000;
const MAX_PARAMETER_NAME_LENGTH = 50;

export class FilterExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterExpressionError';
  }
}

export type ItemField = 'itemId' | 'title' | 'category' | 'price' | 'inStock';
export type ListOperator = 'IN' | 'NOT IN';
export type ComparisonOperator = '=' | '<' | '>' | '<=' | '>=';
export type Literal = { readonly kind: 'string'; readonly value: string } | { readonly kind: 'number'; readonly value: number };
export type ValueRef = Literal | { readonly kind: 'parameter'; readonly name: string };

/** One condition as written; `name` is the field name as written (for messages). */
export type Condition =
  | { readonly type: 'item'; readonly field: ItemField; readonly name: string; readonly operator: ListOperator; readonly values: readonly ValueRef[] }
  | { readonly type: 'item'; readonly field: ItemField; readonly name: string; readonly operator: ComparisonOperator; readonly value: ValueRef }
  | { readonly type: 'interaction'; readonly operator: ListOperator; readonly values: readonly ValueRef[] };

/** AND and OR nodes hold two or more operands; a lone condition stands for itself. */
export type Predicate<C> = C | { readonly type: 'and' | 'or'; readonly operands: readonly Predicate<C>[] };

export interface ParsedExpression {
  readonly action: 'INCLUDE' | 'EXCLUDE';
  readonly dataset: 'Items' | 'Interactions';
  readonly where: Predicate<Condition>;
  /** Its $PARAM names without `$`, in order of first use. */
  readonly parameters: readonly string[];
}

export interface ParsedFilter {
  readonly expressions: readonly ParsedExpression[];
  /** Every $PARAM name without `$`, in order of first use. */
  readonly parameters: readonly string[];
}

/** A condition with its values in the field's own type (`=` becomes IN with one value). */
export type BoundCondition =
  | { readonly type: 'item'; readonly field: ItemField; readonly operator: ListOperator; readonly values: readonly (string | number | boolean)[] }
  | { readonly type: 'item'; readonly field: 'price'; readonly operator: '<' | '>' | '<=' | '>='; readonly value: number }
  /** Event types lower-cased; "*" is every type. */
  | { readonly type: 'interaction'; readonly operator: ListOperator; readonly eventTypes: readonly string[] };

export interface BoundFilter {
  /** The INCLUDE expressions' conditions: when there are any, an item must match one. */
  readonly include: readonly Predicate<BoundCondition>[];
  /** The EXCLUDE expressions' conditions: an item matching any is dropped. */
  readonly exclude: readonly Predicate<BoundCondition>[];
}

export interface FilterSubject {
  /** The item's id: ITEM_ID conditions need no catalog entry (ranking lists hold items the catalog lacks). */
  itemId: string;
  item: CatalogItem | undefined;
  /** event types the user had with this item */
  eventTypes: ReadonlySet<string>;
}

const FIELDS: ReadonlyMap<string, ItemField> = new Map([
  ['ITEM_ID', 'itemId'],
  ['TITLE', 'title'],
  ['CATEGORY', 'category'],
  ['CATEGORY_L1', 'category'],
  ['CATEGORIES', 'category'],
  ['GENRE', 'category'],
  ['GENRES', 'category'],
  ['PRICE', 'price'],
  ['IN_STOCK', 'inStock'],
]);
const SUPPORTED_FIELDS = [...FIELDS.keys()].join(', ');

// ---------------------------------------------------------------------------------------------
// Tokens

type Token =
  | { kind: 'word' | 'punct' | 'operator'; text: string; position: number }
  | { kind: 'literal'; text: string; position: number; literal: Literal }
  | { kind: 'parameter'; text: string; position: number; name: string }
  | { kind: 'end'; text: ''; position: number };

const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const STRING = /"(?:[^"\\]|\\[\s\S])*"/y;
const PARAMETER_NAME = /[A-Za-z0-9_]+/y;
const OPERATOR = /<=|>=|[=<>]/y;

function match(pattern: RegExp, text: string, at: number): string | null {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0] ?? null;
}

/** A "JSON-style string" or a number at `at`, or null when neither starts there. Positions in messages are 1-based. */
function readLiteral(text: string, at: number, where: (position: number) => string): { literal: Literal; length: number } | null {
  if (text[at] === '"') {
    const raw = match(STRING, text, at);
    if (raw === null) throw new FilterExpressionError(`unterminated string starting ${where(at + 1)}`);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new FilterExpressionError(`invalid string ${raw} ${where(at + 1)}: it must be a JSON-style string`);
    }
    return { literal: { kind: 'string', value: value as string }, length: raw.length };
  }
  const raw = match(NUMBER, text, at);
  if (raw === null) return null;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new FilterExpressionError(`number ${raw} ${where(at + 1)} is out of range`);
  return { literal: { kind: 'number', value }, length: raw.length };
}

const at = (position: number): string => `at position ${position}`;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const position = i + 1;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const literal = readLiteral(text, i, at);
    if (literal !== null) {
      tokens.push({ kind: 'literal', text: text.slice(i, i + literal.length), position, literal: literal.literal });
      i += literal.length;
      continue;
    }
    const word = match(WORD, text, i);
    if (word !== null) {
      tokens.push({ kind: 'word', text: word, position });
      i += word.length;
      continue;
    }
    if (c === '$') {
      const name = match(PARAMETER_NAME, text, i + 1);
      if (name === null) throw new FilterExpressionError(`expected a parameter name after $ ${at(position)}`);
      if (name.length > MAX_PARAMETER_NAME_LENGTH) throw new FilterExpressionError(`parameter name $${name.slice(0, 20)}... ${at(position)} is longer than ${MAX_PARAMETER_NAME_LENGTH} characters`);
      tokens.push({ kind: 'parameter', text: `$${name}`, position, name });
      i += name.length + 1;
      continue;
    }
    const operator = match(OPERATOR, text, i);
    if (operator !== null) {
      tokens.push({ kind: 'operator', text: operator, position });
      i += operator.length;
      continue;
    }
    if ('().,|'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, position });
      i++;
      continue;
    }
    throw new FilterExpressionError(`unexpected character ${JSON.stringify(c)} ${at(position)}`);
  }
  tokens.push({ kind: 'end', text: '', position: text.length + 1 });
  return tokens;
}

function describe(token: Token): string {
  if (token.kind === 'end') return 'the end of the expression';
  return JSON.stringify(token.text.length > 40 ? `${token.text.slice(0, 40)}...` : token.text);
}

// ---------------------------------------------------------------------------------------------
// Values: one check for literals at parse time and filter values at bind time

type Target = { type: 'item'; field: ItemField; label: string; operator: ListOperator | ComparisonOperator } | { type: 'interaction'; label: string };

function showLiteral(literal: Literal): string {
  return literal.kind === 'string' ? JSON.stringify(literal.value) : String(literal.value);
}

/** The literal in the target field's type, or a message saying why it does not fit. */
function coerce(target: Target, literal: Literal): { value: string | number | boolean } | { error: string } {
  const got = `got ${showLiteral(literal)}`;
  if (target.type === 'interaction') {
    return literal.kind === 'string' ? { value: literal.value.toLowerCase() } : { error: `${target.label} takes "strings", ${got}` };
  }
  switch (target.field) {
    case 'price':
      return literal.kind === 'number' ? { value: literal.value } : { error: `${target.label} takes numbers, ${got}` };
    case 'inStock': {
      const text = literal.kind === 'string' ? literal.value.toLowerCase() : String(literal.value);
      if (text === 'true' || text === '1') return { value: true };
      if (text === 'false' || text === '0') return { value: false };
      return { error: `${target.label} takes "true", "false", 1 or 0, ${got}` };
    }
    default:
      return literal.kind === 'string' ? { value: literal.value } : { error: `${target.label} takes "strings", ${got}` };
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing

class Parser {
  private index = 0;
  private readonly parameters: string[] = [];
  private dataset: 'Items' | 'Interactions' | null = null;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): ParsedFilter {
    const expressions: ParsedExpression[] = [this.expression()];
    while (this.isPunct('|')) {
      this.index++;
      expressions.push(this.expression());
    }
    const end = this.peek();
    if (end.kind !== 'end') this.fail(`expected AND, OR, | or the end of the expression ${at(end.position)}, found ${describe(end)}`);
    return { expressions, parameters: [...new Set(expressions.flatMap((e) => e.parameters))] };
  }

  private expression(): ParsedExpression {
    const first = this.peek();
    const action = this.keyword('INCLUDE') ? 'INCLUDE' : this.keyword('EXCLUDE') ? 'EXCLUDE' : null;
    if (action === null) this.fail(`expected INCLUDE or EXCLUDE ${at(first.position)}, found ${describe(first)}`);
    const subject = this.peek();
    if (!this.keyword('ItemID')) {
      const hint = subject.kind === 'word' && /^(UserID|ActionID)$/i.test(subject.text) ? ' (only item filters are supported)' : '';
      this.fail(`expected ItemID after ${action} ${at(subject.position)}, found ${describe(subject)}${hint}`);
    }
    const where = this.peek();
    if (!this.keyword('WHERE')) this.fail(`expected WHERE after ItemID ${at(where.position)}, found ${describe(where)}`);
    this.parameters.length = 0;
    this.dataset = null;
    const predicate = this.or();
    return { action, dataset: this.dataset ?? 'Items', where: predicate, parameters: [...new Set(this.parameters)] };
  }

  private or(): Predicate<Condition> {
    const operands = [this.and()];
    while (this.keyword('OR')) operands.push(this.and());
    return operands.length === 1 ? operands[0] : { type: 'or', operands };
  }

  private and(): Predicate<Condition> {
    const operands = [this.primary()];
    while (this.keyword('AND')) operands.push(this.primary());
    return operands.length === 1 ? operands[0] : { type: 'and', operands };
  }

  private primary(): Predicate<Condition> {
    if (this.isPunct('(')) {
      this.index++;
      this.depth++;
      const inner = this.or();
      const close = this.peek();
      if (!this.isPunct(')')) this.fail(`expected AND, OR or ) ${at(close.position)}, found ${describe(close)}`);
      this.index++;
      this.depth--;
      return inner;
    }
    const condition = this.condition();
    this.checkFollower();
    return condition;
  }

  /** What may follow a condition: a clear message for what Personalize has and Attune lacks. */
  private checkFollower(): void {
    const next = this.peek();
    if (next.kind === 'word' && /^IF$/i.test(next.text)) this.fail(`IF CurrentUser conditions are not supported ${at(next.position)}`);
    if (next.kind === 'word' && /^(AND|OR)$/i.test(next.text)) return;
    if (this.depth > 0) {
      if (!this.isPunct(')')) this.fail(`expected AND, OR or ) ${at(next.position)}, found ${describe(next)}`);
    } else if (next.kind !== 'end' && !this.isPunct('|')) {
      this.fail(`expected AND, OR, | or the end of the expression ${at(next.position)}, found ${describe(next)}`);
    }
  }

  private condition(): Condition {
    const start = this.next();
    if (start.kind !== 'word') {
      this.fail(`expected a condition (Items.<FIELD> or Interactions.EVENT_TYPE) ${at(start.position)}, found ${describe(start)}`);
    }
    const dataset = /^Items$/i.test(start.text) ? 'Items' : /^Interactions$/i.test(start.text) ? 'Interactions' : null;
    if (dataset === null) {
      this.fail(`unsupported dataset ${describe(start)} ${at(start.position)}: item filters take Items.<FIELD> or Interactions.EVENT_TYPE conditions`);
    }
    const dot = this.next();
    if (dot.kind !== 'punct' || dot.text !== '.') this.fail(`expected . after ${start.text} ${at(dot.position)}, found ${describe(dot)}`);
    const fieldToken = this.next();
    if (fieldToken.kind !== 'word') this.fail(`expected a field name after ${start.text}. ${at(fieldToken.position)}, found ${describe(fieldToken)}`);
    const label = `${start.text}.${fieldToken.text}`;
    if (this.dataset === null) this.dataset = dataset;
    else if (this.dataset !== dataset) {
      this.fail(`${label} ${at(start.position)} is not on ${this.dataset}, the dataset of the expression's first condition; chain expressions with | to filter on both`);
    }
    if (dataset === 'Interactions') {
      if (!/^EVENT_TYPE$/i.test(fieldToken.text)) this.fail(`unsupported field ${label} ${at(fieldToken.position)}; Interactions conditions take EVENT_TYPE only`);
      const operator = this.listOperator();
      if (operator === null) {
        const found = this.peek();
        this.fail(`expected IN or NOT IN after ${label} ${at(found.position)}, found ${describe(found)}`);
      }
      return { type: 'interaction', operator, values: this.list({ type: 'interaction', label }) };
    }
    const field = FIELDS.get(fieldToken.text.toUpperCase());
    if (field === undefined) this.fail(`unknown field ${label} ${at(fieldToken.position)}; supported: ${SUPPORTED_FIELDS}`);
    const name = fieldToken.text;
    const listOperator = this.listOperator();
    if (listOperator !== null) return { type: 'item', field, name, operator: listOperator, values: this.list({ type: 'item', field, label, operator: listOperator }) };
    const operatorToken = this.next();
    if (operatorToken.kind !== 'operator') {
      this.fail(`expected IN, NOT IN or a comparison after ${label} ${at(operatorToken.position)}, found ${describe(operatorToken)}`);
    }
    const operator = operatorToken.text as ComparisonOperator;
    if (operator !== '=' && field !== 'price') {
      this.fail(`${operator} ${at(operatorToken.position)} compares numbers, but ${label} is not numeric (only PRICE is)`);
    }
    const value = this.value({ type: 'item', field, label, operator }, `after ${operator}`);
    return { type: 'item', field, name, operator, value };
  }

  private listOperator(): ListOperator | null {
    if (this.keyword('IN')) return 'IN';
    if (!this.keyword('NOT')) return null;
    const inToken = this.peek();
    if (!this.keyword('IN')) this.fail(`expected IN after NOT ${at(inToken.position)}, found ${describe(inToken)}`);
    return 'NOT IN';
  }

  private list(target: Target): ValueRef[] {
    const operator = target.type === 'item' ? target.operator : 'IN';
    const open = this.next();
    if (open.kind !== 'punct' || open.text !== '(') this.fail(`expected ( after ${operator} ${at(open.position)}, found ${describe(open)}`);
    const values: ValueRef[] = [this.value(target, 'in the list')];
    for (;;) {
      const separator = this.next();
      if (separator.kind === 'punct' && separator.text === ')') break;
      if (separator.kind !== 'punct' || separator.text !== ',') this.fail(`expected , or ) ${at(separator.position)}, found ${describe(separator)}`);
      values.push(this.value(target, 'in the list'));
      if (values.length > MAX_LIST_VALUES) this.fail(`the list of ${target.label} ${at(open.position)} has more than ${MAX_LIST_VALUES} values`);
    }
    return values;
  }

  private value(target: Target, context: string): ValueRef {
    const token = this.next();
    if (token.kind === 'parameter') {
      this.parameters.push(token.name);
      return { kind: 'parameter', name: token.name };
    }
    if (token.kind !== 'literal') {
      this.fail(`expected a value ("string", number or $PARAMETER) ${context} ${at(token.position)}, found ${describe(token)}`);
    }
    const checked = coerce(target, token.literal);
    if ('error' in checked) this.fail(`${checked.error} ${at(token.position)}`);
    return token.literal;
  }

  private keyword(word: string): boolean {
    const token = this.peek();
    if (token.kind !== 'word' || token.text.toUpperCase() !== word.toUpperCase()) return false;
    this.index++;
    return true;
  }

  private isPunct(text: string): boolean {
    const token = this.peek();
    return token.kind === 'punct' && token.text === text;
  }

  private peek(): Token {
    return this.tokens[this.index];
  }

  private next(): Token {
    const token = this.tokens[this.index];
    if (token.kind !== 'end') this.index++;
    return token;
  }

  private fail(message: string): never {
    throw new FilterExpressionError(message);
  }
}

export function parseFilterExpression(text: string): ParsedFilter {
  if (text.length > MAX_EXPRESSION_LENGTH) {
    throw new FilterExpressionError(`filter expression is ${text.length} characters long; the limit is ${MAX_EXPRESSION_LENGTH}`);
  }
  if (text.trim() === '') throw new FilterExpressionError('filter expression is empty');
  return new Parser(tokenize(text)).parse();
}

// ---------------------------------------------------------------------------------------------
// Binding

/** Personalize's filter value: comma-separated "JSON-style strings" and numbers, e.g. `"Comedy","Drama"` or `10`. */
export function parseFilterValue(name: string, raw: string): Literal[] {
  const where = (position: number): string => `at position ${position}`;
  const fail: (message: string) => never = (message) => {
    throw new FilterExpressionError(`filter value for $${name} ${message}`);
  };
  if (raw.length > MAX_FILTER_VALUE_LENGTH) fail(`is ${raw.length} characters long; the limit is ${MAX_FILTER_VALUE_LENGTH}`);
  const values: Literal[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < raw.length && /\s/.test(raw[i])) i++;
  };
  skipSpace();
  if (i === raw.length) fail('is empty');
  for (;;) {
    let read: { literal: Literal; length: number } | null;
    try {
      read = readLiteral(raw, i, where);
    } catch (err) {
      return fail(`is malformed: ${(err as Error).message}`);
    }
    if (read === null) fail(`is malformed ${where(i + 1)}: expected a "double-quoted string" or a number`);
    values.push(read.literal);
    i += read.length;
    skipSpace();
    if (i === raw.length) break;
    if (raw[i] !== ',') fail(`is malformed ${where(i + 1)}: expected , between values`);
    i++;
    skipSpace();
  }
  if (values.length > MAX_LIST_VALUES) fail(`has ${values.length} values; at most ${MAX_LIST_VALUES}`);
  return values;
}

type Lookup = (name: string) => Literal[];

function bindValues(target: Target, refs: readonly ValueRef[], lookup: Lookup): Array<string | number | boolean> {
  const values: Array<string | number | boolean> = [];
  for (const ref of refs) {
    const literals = ref.kind === 'parameter' ? lookup(ref.name) : [ref];
    for (const literal of literals) {
      const checked = coerce(target, literal);
      if ('error' in checked) throw new FilterExpressionError(ref.kind === 'parameter' ? `filter value for $${ref.name}: ${checked.error}` : checked.error);
      values.push(checked.value);
    }
  }
  if (values.length > MAX_LIST_VALUES) throw new FilterExpressionError(`the list of ${target.label} has ${values.length} values once bound; at most ${MAX_LIST_VALUES}`);
  return values;
}

function bindCondition(condition: Condition, lookup: Lookup): BoundCondition {
  if (condition.type === 'interaction') {
    const eventTypes = bindValues({ type: 'interaction', label: 'Interactions.EVENT_TYPE' }, condition.values, lookup) as string[];
    return { type: 'interaction', operator: condition.operator, eventTypes };
  }
  const label = `Items.${condition.name}`;
  const target: Target = { type: 'item', field: condition.field, label, operator: condition.operator };
  if ('values' in condition) {
    return { type: 'item', field: condition.field, operator: condition.operator, values: bindValues(target, condition.values, lookup) };
  }
  const { value: ref, operator } = condition;
  if (ref.kind === 'parameter') {
    const count = lookup(ref.name).length;
    if (count !== 1) throw new FilterExpressionError(`filter value for $${ref.name} must be one value for ${label} ${operator}, got ${count}`);
  }
  const [value] = bindValues(target, [ref], lookup);
  if (operator === '=') return { type: 'item', field: condition.field, operator: 'IN', values: [value] };
  return { type: 'item', field: 'price', operator, value: value as number };
}

function bindPredicate(predicate: Predicate<Condition>, lookup: Lookup): Predicate<BoundCondition> {
  if ('operands' in predicate) return { type: predicate.type, operands: predicate.operands.map((p) => bindPredicate(p, lookup)) };
  return bindCondition(predicate, lookup);
}

/** Personalize's filterValues: { PARAM: '"a","b"' } (comma-separated JSON-style strings, or a number). Missing or malformed values are FilterExpressionError. */
export function bindFilter(parsed: ParsedFilter, filterValues: Readonly<Record<string, string>>): BoundFilter {
  const cache = new Map<string, Literal[]>();
  const lookup: Lookup = (name) => {
    let literals = cache.get(name);
    if (literals === undefined) {
      literals = parseFilterValue(name, filterValues[name]);
      cache.set(name, literals);
    }
    return literals;
  };
  const include: Array<Predicate<BoundCondition>> = [];
  const exclude: Array<Predicate<BoundCondition>> = [];
  for (const expression of parsed.expressions) {
    const missing = expression.parameters.filter((name) => !Object.hasOwn(filterValues, name) || typeof filterValues[name] !== 'string');
    if (missing.length > 0) {
      // Personalize applies an EXCLUDE expression only when all its values are given.
      if (expression.action === 'EXCLUDE') continue;
      throw new FilterExpressionError(`missing filter value for ${missing.map((name) => `$${name}`).join(', ')}: an INCLUDE expression needs every parameter`);
    }
    (expression.action === 'INCLUDE' ? include : exclude).push(bindPredicate(expression.where, lookup));
  }
  return { include, exclude };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

function holds(predicate: Predicate<BoundCondition>, subject: FilterSubject): boolean {
  switch (predicate.type) {
    case 'and':
      return predicate.operands.every((operand) => holds(operand, subject));
    case 'or':
      return predicate.operands.some((operand) => holds(operand, subject));
    case 'interaction': {
      const any = predicate.eventTypes.includes('*');
      const wanted = predicate.operator === 'IN';
      for (const eventType of subject.eventTypes) {
        if ((any || predicate.eventTypes.includes(eventType.toLowerCase())) === wanted) return true;
      }
      return false;
    }
    case 'item': {
      if (predicate.field === 'itemId' && (predicate.operator === 'IN' || predicate.operator === 'NOT IN')) {
        return predicate.values.includes(subject.itemId) === (predicate.operator === 'IN');
      }
      const item = subject.item;
      if (item === undefined) return false;
      if (predicate.operator === 'IN' || predicate.operator === 'NOT IN') {
        return predicate.values.includes(item[predicate.field]) === (predicate.operator === 'IN');
      }
      const price = item.price;
      switch (predicate.operator) {
        case '<':
          return price < predicate.value;
        case '>':
          return price > predicate.value;
        case '<=':
          return price <= predicate.value;
        case '>=':
          return price >= predicate.value;
      }
    }
  }
}

/** Whether the item may be shown. An item unknown to the catalog fails every Items condition but ITEM_ID's (so INCLUDE drops it, EXCLUDE keeps it). */
export function allowsItem(bound: BoundFilter, subject: FilterSubject): boolean {
  if (bound.include.length > 0 && !bound.include.some((predicate) => holds(predicate, subject))) return false;
  return !bound.exclude.some((predicate) => holds(predicate, subject));
}
