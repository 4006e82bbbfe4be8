import { compareIds } from '../model/item-item.js';
import type { Interaction } from '../model/types.js';
import { MetricAccumulator, deepestK, rankOf, type MetricSpec } from './eval-metrics.js';
import type { CaseGroup } from './eval-cases.js';

/** Items by training count, most first, ties by id; catalog items never seen come last (by id). */
export function popularityOrder(train: readonly Interaction[], catalog: readonly string[] = []): string[] {
  const counts = new Map<string, number>();
  for (const { itemId } of train) counts.set(itemId, (counts.get(itemId) ?? 0) + 1);
  for (const itemId of catalog) if (!counts.has(itemId)) counts.set(itemId, 0);
  return [...counts].sort((a, b) => b[1] - a[1] || compareIds(a[0], b[0])).map(([id]) => id);
}

/** The popularity baseline under the same protocol: the same list for everyone, minus their history. */
export function popularityMetrics(
  order: readonly string[],
  groups: readonly CaseGroup[],
  spec: MetricSpec,
  exclude: boolean,
  catalogSize: number,
): Record<string, number> {
  const metrics = new MetricAccumulator(spec, catalogSize);
  const depth = deepestK(spec);
  for (const group of groups) {
    for (const prefix of group.prefixes) {
      const history = exclude ? new Set(group.events.slice(0, prefix).map((x) => x.itemId)) : new Set<string>();
      const list: string[] = [];
      for (const itemId of order) {
        if (history.has(itemId)) continue;
        list.push(itemId);
        if (list.length === depth) break;
      }
      metrics.add(rankOf(list, group.events[prefix].itemId), list);
    }
  }
  return metrics.result();
}
