/** `/api/v1/format_query`: parse, then print with Prometheus' prettifier. */
import { parseExpr, type ParseOptions } from './parser.ts';
import { prettify } from './printer.ts';

/** The prettified form of a query. Throws ParseError. */
export function formatQuery(query: string, opts: ParseOptions = {}): string {
  return prettify(parseExpr(query, opts));
}
